"""The store: Optuna's RDB schema (SQLite by default, PostgreSQL for many workers)."""

from __future__ import annotations

from hpo.storage._retry import StoreUnavailable
from hpo.storage._study import StudyMismatch, open_study, package_versions
from hpo.storage._url import open_storage, resolve_url

__all__ = [
    "StoreUnavailable", "StudyMismatch", "open_storage", "open_study", "package_versions",
    "resolve_url",
]
