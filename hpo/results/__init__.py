"""The read model of hpo's studies: one reader for the CLI, the dashboard and the report.

:class:`Store` reads a storage (fast SQL on Optuna's tables when the schema is the one
it was checked against, Optuna's public API otherwise) into :class:`StudySnapshot`\\ s;
the functions here turn a snapshot into what ``hpo studies``, ``hpo show``, ``hpo best``
and the dashboard's pages show: :func:`summarize`, :func:`leaderboard`,
:func:`best_config` and the one wording of why a trial stopped, :func:`stop_note`.

Importing this package stays light: Optuna and SQLAlchemy load when a store opens.
"""

from __future__ import annotations

from hpo.results._leaderboard import Row, best_config, leaderboard
from hpo.results._store import (
    Store,
    StoreError,
    StoreNotFound,
    StudyMeta,
    StudyNotFound,
    StudySnapshot,
    TrialRecord,
)
from hpo.results._summary import (
    StudySummary,
    best_trial,
    duration,
    objective_label,
    step_reached,
    stop_head,
    stop_note,
    summaries,
    summarize,
)

__all__ = [
    "Row",
    "Store",
    "StoreError",
    "StoreNotFound",
    "StudyMeta",
    "StudyNotFound",
    "StudySnapshot",
    "StudySummary",
    "TrialRecord",
    "best_config",
    "best_trial",
    "duration",
    "leaderboard",
    "objective_label",
    "step_reached",
    "stop_head",
    "stop_note",
    "summaries",
    "summarize",
]
