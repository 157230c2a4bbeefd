"""Trainables: the functions a search runs, and the API they report through."""

from __future__ import annotations

from hpo.trainables._base import Trainable
from hpo.trainables._context import TrialContext, report, should_stop, trial_context
from hpo.trainables._registry import BUILTINS, resolve_trainable, unknown_settings

__all__ = [
    "BUILTINS", "Trainable", "TrialContext", "report", "resolve_trainable", "should_stop",
    "trial_context", "unknown_settings",
]
