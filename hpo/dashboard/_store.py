"""The dashboard's import path of the one store reader, :mod:`hpo.results._store`.

The reader lives in :mod:`hpo.results` so that the CLI, which must work without the
dashboard, reads studies exactly as the dashboard and the report do. The dashboard's
modules still import it from here.
"""

from __future__ import annotations

from hpo.results._store import (
    _SPECIAL,
    FINISHED,
    SETTLE_S,
    Store,
    StoreError,
    StoreNotFound,
    StudyMeta,
    StudyNotFound,
    StudySnapshot,
    TrialRecord,
)

__all__ = [
    "FINISHED",
    "SETTLE_S",
    "_SPECIAL",
    "Store",
    "StoreError",
    "StoreNotFound",
    "StudyMeta",
    "StudyNotFound",
    "StudySnapshot",
    "TrialRecord",
]
