"""Canaries for hpo._compat.optuna: they fail loudly when an Optuna upgrade moves the
private structure hpo's fast store reader relies on, or its schema version.

When one fails after an upgrade: check the dashboard's SQL (hpo/results/_store.py)
against the new Optuna's models and migrations, then update hpo/_compat/optuna.py
(KNOWN_HEAD_VERSIONS, RDB_COLUMNS). Until then the dashboard falls back to Optuna's
public API, correct but slower.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hpo._compat import optuna as compat


def _storage(tmp_path: Path, name: str = "c.db") -> tuple[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/{name}"
    optuna.create_study(study_name="s", storage=url)
    return url, optuna.storages.RDBStorage(url, skip_compatibility_check=True,
                                           skip_table_creation=True)


def test_rdb_models_have_every_table_and_column_the_reader_uses() -> None:
    models = compat.rdb_models()
    assert models.__name__ == "optuna.storages._rdb.models"
    tables = compat.rdb_tables()
    assert set(tables) == set(compat.RDB_COLUMNS)
    for key, (model_name, columns) in compat.RDB_COLUMNS.items():
        assert tables[key] is getattr(models, model_name).__table__
        assert set(columns) <= set(tables[key].c.keys()), key


def test_value_type_enums_and_trial_states_have_the_names_the_reader_maps() -> None:
    from optuna.trial import TrialState

    from hpo.results import _store

    models = compat.rdb_models()
    for (model_name, enum_name), expected in compat.VALUE_TYPES.items():
        assert set(getattr(getattr(models, model_name), enum_name).__members__) == expected
        assert expected - {"FINITE"} <= set(_store._SPECIAL)  # each one is mapped
    assert {"RUNNING", "WAITING", "COMPLETE", "PRUNED", "FAIL"} <= set(TrialState.__members__)


def test_installed_optuna_writes_a_schema_the_reader_was_checked_against(
        tmp_path: Path) -> None:
    """Meant to fail on an Optuna upgrade that adds a migration."""
    import optuna

    _, storage = _storage(tmp_path)
    head = storage.get_head_version()
    assert head in compat.KNOWN_HEAD_VERSIONS, (
        f"Optuna {optuna.__version__} writes schema {head}; the dashboard's SQL was checked "
        f"against {sorted(compat.KNOWN_HEAD_VERSIONS)}")
    assert storage.get_current_version() == head
    assert compat.rdb_fast_path_ok(storage) == (True, "")
    storage.engine.dispose()


def test_fast_path_refused_for_another_schema_or_an_unknown_head(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, storage = _storage(tmp_path)
    storage.engine.dispose()
    path = url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v0.0.0.fake'")
    conn.close()
    import optuna

    other = optuna.storages.RDBStorage(url, skip_compatibility_check=True,
                                       skip_table_creation=True)
    ok, why = compat.rdb_fast_path_ok(other)
    assert not ok and "v0.0.0.fake" in why
    other.engine.dispose()

    _, fresh = _storage(tmp_path, "d.db")
    monkeypatch.setattr(compat, "KNOWN_HEAD_VERSIONS", frozenset({"v0.0.0.other"}))
    ok, why = compat.rdb_fast_path_ok(fresh)
    assert not ok and "checked against v0.0.0.other" in why
    fresh.engine.dispose()


def test_a_moved_models_module_is_a_compat_error_and_refuses_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import optuna.storages._rdb as rdb

    _, storage = _storage(tmp_path)
    monkeypatch.delattr(rdb, "models")
    monkeypatch.setitem(sys.modules, "optuna.storages._rdb.models", None)
    with pytest.raises(compat.OptunaCompatError, match="not importable"):
        compat.rdb_models()
    ok, why = compat.rdb_fast_path_ok(storage)
    assert not ok and "not importable" in why
    storage.engine.dispose()
