"""Where studies live: the storage URL and the engine settings that make it safe."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

ENV_VAR = "HPO_STORAGE"
DEFAULT_DIR = "hpo-results"
DEFAULT_FILE = "hpo.db"
#: :func:`resolve_url`'s fallbacks in words, for help texts.
DEFAULT_TEXT = f"${ENV_VAR}, else sqlite:///./{DEFAULT_DIR}/{DEFAULT_FILE}"


def resolve_url(url: str | None = None) -> str:
    """The storage URL: the argument, else ``$HPO_STORAGE``, else SQLite in ./hpo-results.

    The one definition of hpo's default store: every command, the dashboard and the
    report resolve their ``--storage`` through it.
    """
    if url:
        return url
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    return f"sqlite:///{Path(DEFAULT_DIR).resolve() / DEFAULT_FILE}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # A long busy timeout instead of "database is locked" when a reader (the
        # dashboard) or a second driver holds the file for a moment.
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(engine: Any) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets readers (dashboards) read while a search writes; NORMAL sync keeps
        # every commit durable against a process crash at a fraction of FULL's cost.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def open_storage(url: str | None = None) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for ``url`` (see :func:`resolve_url`), creating SQLite's folder."""
    import optuna

    url = resolve_url(url)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
    from hpo.storage._lock import schema_lock
    from hpo.storage._retry import open_window, retry

    def connect() -> optuna.storages.RDBStorage:
        # Optuna creates its tables (and checks their version) on a fresh store; with
        # many processes starting at once only one may do that, the others wait for
        # the lock and then find the schema in place.
        with schema_lock(url):
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))

    storage = retry(connect, f"opening the store {_without_password(url)}",
                    window=open_window())
    if url.startswith("sqlite"):
        _sqlite_pragmas(storage.engine)
        storage.engine.dispose()  # reconnect so the pragmas apply to every connection
    return storage


def _without_password(url: str) -> str:
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
