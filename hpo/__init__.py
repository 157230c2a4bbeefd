"""hpo: hyperparameter optimisation for fine-tuning pre-trained models.

``import hpo`` stays light: Ray, torch and transformers load only when a search
runs. Trainables talk to hpo through :func:`report` (with an optional checkpoint)
and :func:`should_stop`; a retried trial resumes from :func:`checkpoint_dir` or
:func:`checkpoint_state`; :class:`Infeasible` marks a config that cannot run.
"""

from __future__ import annotations

from hpo._version import __version__
from hpo.trainables._context import (
    Infeasible,
    checkpoint_dir,
    checkpoint_state,
    report,
    should_stop,
    trial_context,
)

__all__ = [
    "Infeasible", "__version__", "checkpoint_dir", "checkpoint_state", "report",
    "should_stop", "trial_context",
]
