"""The study lock lives with the store (:mod:`hpo.storage._lock`); imported from here too."""

from __future__ import annotations

from hpo.storage._lock import StudyLock, sqlite_lock_path

__all__ = ["StudyLock", "sqlite_lock_path"]
