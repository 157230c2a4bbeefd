"""hpo: hyperparameter optimisation for fine-tuning pre-trained models.

``import hpo`` stays light: Ray, torch and transformers load only when a search
runs. Trainables talk to hpo through :func:`report` and :func:`should_stop`.
"""

from __future__ import annotations

from hpo._version import __version__
from hpo.trainables._context import report, should_stop, trial_context

__all__ = ["__version__", "report", "should_stop", "trial_context"]
