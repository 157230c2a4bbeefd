"""Optuna internals hpo relies on, and when it may rely on them.

The dashboard's fast store reader (:mod:`hpo.results._store`) reads Optuna's RDB
tables with bulk SELECTs instead of going through ``RDBStorage``, which builds ORM
objects for every row (seconds for a study of 10,000 trials). The table objects come
from the private ``optuna.storages._rdb.models``; the SQL was checked against one
schema. So the fast reader may be used only when :func:`rdb_fast_path_ok` says so:

* ``optuna.storages._rdb.models`` still imports and has every table, column and enum
  member the reader uses (:data:`RDB_COLUMNS`, :data:`VALUE_TYPES`);
* the installed Optuna's head schema version (public ``RDBStorage.get_head_version``) is
  one the reader was checked against (:data:`KNOWN_HEAD_VERSIONS`);
* the storage's own schema version (public ``RDBStorage.get_current_version``) equals it.

Otherwise the reader falls back to Optuna's public API (slower). The canary test
``tests/compat/test_optuna_canary.py`` fails when an Optuna upgrade moves any of this.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

# Alembic head revisions of Optuna's RDB schema the fast reader's SQL was checked
# against. v3.2.0.a (a migration added in Optuna 3.2) is the head of Optuna 5.0.0.
# Add a version here only after checking the tables below against its migration.
KNOWN_HEAD_VERSIONS: frozenset[str] = frozenset({"v3.2.0.a"})

# The reader's name for each table -> (Optuna's model class, the columns it reads).
RDB_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "studies": ("StudyModel", ("study_id", "study_name")),
    "directions": ("StudyDirectionModel", ("study_id", "objective", "direction")),
    "study_attrs": ("StudyUserAttributeModel", ("study_id", "key", "value_json")),
    "trials": ("TrialModel", ("trial_id", "study_id", "number", "state", "datetime_start",
                              "datetime_complete")),
    "params": ("TrialParamModel", ("trial_id", "param_name", "param_value",
                                   "distribution_json")),
    "values": ("TrialValueModel", ("trial_id", "objective", "value", "value_type")),
    "inter": ("TrialIntermediateValueModel", ("trial_id", "step", "intermediate_value",
                                              "intermediate_value_type")),
    "attrs": ("TrialUserAttributeModel", ("trial_id", "key", "value_json")),
}

# (model, enum) -> the members of each value-type enum, stored as their names: the
# reader maps INF_POS, INF_NEG and NAN and takes the value column as is otherwise, so
# the members must be exactly these (a new one would be misread as a finite value).
VALUE_TYPES: dict[tuple[str, str], frozenset[str]] = {
    ("TrialValueModel", "TrialValueType"): frozenset({"FINITE", "INF_POS", "INF_NEG"}),
    ("TrialIntermediateValueModel", "TrialIntermediateValueType"):
        frozenset({"FINITE", "INF_POS", "INF_NEG", "NAN"}),
}


class OptunaCompatError(RuntimeError):
    """The installed Optuna no longer has the private structure a helper reads."""


def rdb_models() -> ModuleType:
    """Optuna's private ORM models module, ``optuna.storages._rdb.models``.

    Raises:
        OptunaCompatError: the module is gone (moved or renamed in this Optuna).
    """
    try:
        from optuna.storages._rdb import models
    except ImportError as exc:
        raise OptunaCompatError(f"optuna.storages._rdb.models is not importable: {exc}") \
            from exc
    return models


def rdb_tables() -> dict[str, Any]:
    """The SQLAlchemy ``Table`` of each table in :data:`RDB_COLUMNS`, by the reader's name.

    Raises:
        OptunaCompatError: the models module, a model or one of its columns is missing, or
            a value-type enum's members are not those of :data:`VALUE_TYPES`.
    """
    models = rdb_models()
    tables: dict[str, Any] = {}
    for key, (model_name, columns) in RDB_COLUMNS.items():
        table = getattr(getattr(models, model_name, None), "__table__", None)
        if table is None:
            raise OptunaCompatError(f"optuna.storages._rdb.models has no table {model_name}")
        missing = [c for c in columns if c not in table.c]
        if missing:
            raise OptunaCompatError(
                f"table {table.name!r} ({model_name}) lacks column(s) {', '.join(missing)}")
        tables[key] = table
    for (model_name, enum_name), expected in VALUE_TYPES.items():
        enum = getattr(getattr(models, model_name), enum_name, None)
        names = set(getattr(enum, "__members__", ()))
        if names != expected:
            raise OptunaCompatError(f"{model_name}.{enum_name} has members "
                                    f"{', '.join(sorted(names)) or 'none'}, not "
                                    f"{', '.join(sorted(expected))}")
    return tables


def rdb_fast_path_ok(storage: optuna.storages.RDBStorage) -> tuple[bool, str]:
    """Whether the raw-SQL reader may read ``storage``; when not, the reason why.

    Uses only public ``RDBStorage`` methods for the versions; reading them may raise the
    storage's own errors (the caller decides what a storage it cannot query means).
    """
    import optuna

    try:
        rdb_tables()
    except OptunaCompatError as exc:
        return False, f"Optuna {optuna.__version__}: {exc}"
    current, head = storage.get_current_version(), storage.get_head_version()
    if head not in KNOWN_HEAD_VERSIONS:
        return False, (f"Optuna {optuna.__version__} writes schema {head}, but the fast reader "
                       f"was checked against {', '.join(sorted(KNOWN_HEAD_VERSIONS))} only")
    if current != head:
        return False, (f"the storage's schema is {current}, but Optuna "
                       f"{optuna.__version__} writes {head}")
    return True, ""
