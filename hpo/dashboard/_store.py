"""The dashboard's import path of the one store reader, :mod:`hpo.results._store`.

The reader lives in :mod:`hpo.results` so that the CLI, which must work without the
dashboard, reads studies exactly as the dashboard and the report do. The dashboard's
modules (and the Optuna canary test, for ``_SPECIAL``) still import these from here.
"""

from __future__ import annotations

from hpo.results._store import _SPECIAL, Store, StoreError, StudySnapshot

__all__ = ["_SPECIAL", "Store", "StoreError", "StudySnapshot"]
