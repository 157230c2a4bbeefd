"""Storage URL resolution and SQLite settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.storage import open_storage, resolve_url
from hpo.storage._url import DEFAULT_TEXT


def test_url_comes_from_argument_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'hpo-results' / 'hpo.db'}"
    monkeypatch.setenv("HPO_STORAGE", "sqlite:///env.db")
    assert resolve_url(None) == "sqlite:///env.db"
    assert resolve_url("sqlite:///arg.db") == "sqlite:///arg.db"


def test_help_text_names_the_default_resolve_url_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    env, default = DEFAULT_TEXT.split(", else ")
    assert env == "$HPO_STORAGE"
    assert resolve_url() == f"sqlite:///{(tmp_path / default.split(':///', 1)[1]).resolve()}"


def test_sqlite_store_uses_wal_and_creates_its_folder(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "store.db"
    storage = open_storage(f"sqlite:///{db}")
    with storage.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    assert db.exists() and mode == "wal" and sync == 1  # 1 = NORMAL
