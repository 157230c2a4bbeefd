"""What a trainable sees of the search: ``report``, ``should_stop`` and its trial context.

A trainable is a plain function ``fn(config)``. It calls :func:`report` with a
dict of metrics after each evaluation and may poll :func:`should_stop` inside
long steps (per batch): it turns true when the search's wall-clock budget is
spent or the scheduler stopped the trial, so the worker is free within a batch
instead of finishing an epoch nobody will read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialContext:
    """Per-trial facts handed to a trainable.

    Attributes:
        number: the Optuna trial number (-1 outside a search).
        seed: a seed derived from the study and trial number.
        deadline: wall-clock time (``time.time()``) by which the search must end.
        reporter: where :func:`report` sends metrics.
        cpus: CPUs reserved for the trial (set torch's thread count from it).
        model: the space's ``model`` section.
        data: the space's ``data`` section.
        history: every metrics dict reported so far in this process for the trial.
        after_report: called by built-in trainables after each report with the
            model and the number of reports so far; returning True ends training
            there (used to retrain the best config up to its best step).
    """

    number: int = -1
    seed: int = 0
    deadline: float | None = None
    cpus: float = 1.0
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    reporter: Callable[[dict[str, Any]], None] | None = None
    stop_check: Callable[[], bool] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    after_report: Callable[[Any, int], bool] | None = None


_local = threading.local()


def trial_context() -> TrialContext:
    """The context of the trial running in this thread (a local one outside a search)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = TrialContext()
        _local.ctx = ctx
    return ctx


@contextmanager
def use_context(ctx: TrialContext) -> Iterator[TrialContext]:
    previous = getattr(_local, "ctx", None)
    _local.ctx = ctx
    try:
        yield ctx
    finally:
        _local.ctx = previous


def report(metrics: dict[str, Any]) -> None:
    """Report one evaluation of the running trial (e.g. after each epoch).

    Args:
        metrics: metric name to value; must contain the search's objective metric.
            Values that are not finite numbers end the trial as FAIL with the
            reason stored.
    """
    ctx = trial_context()
    ctx.history.append(dict(metrics))
    if ctx.reporter is not None:
        ctx.reporter(dict(metrics))


def should_stop() -> bool:
    """True when the trial should wrap up now (budget spent or stopped by the scheduler)."""
    ctx = trial_context()
    if ctx.deadline is not None and time.time() >= ctx.deadline:
        return True
    return bool(ctx.stop_check and ctx.stop_check())
