"""What a trainable sees of the search: ``report``, ``should_stop``, checkpoints and its
trial context.

A trainable is a plain function ``fn(config)``. It calls :func:`report` with a
dict of metrics after each evaluation and may poll :func:`should_stop` inside
long steps (per batch): it turns true when the search's wall-clock budget or the
trial's own time limit is spent, or the scheduler stopped the trial, so the worker
is free within a batch instead of finishing an epoch nobody will read.

A report may carry a checkpoint (a directory, or a JSON-serialisable dict). When a
failed trial is run again (``max_retries``), :func:`checkpoint_dir` and
:func:`checkpoint_state` return its last checkpoint, so it resumes there and its
steps go on from the step that checkpoint was reported at.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: File a dict checkpoint is stored in, inside the checkpoint directory.
STATE_FILE = "hpo_state.json"


class Infeasible(Exception):
    """Raised by a trainable when its config cannot run at all (too large for memory,
    an impossible combination). The trial is not retried and the sampler is told the
    config is infeasible (an Optuna constraint), so it stops proposing its like.
    ``MemoryError`` and ``torch.cuda.OutOfMemoryError`` are treated the same way."""


@dataclass
class TrialContext:
    """Per-trial facts handed to a trainable.

    Attributes:
        number: the Optuna trial number (-1 outside a search).
        seed: a seed derived from the study and trial number.
        deadline: wall-clock time (``time.time()``) by which the search must end.
        reporter: where :func:`report` sends metrics.
        checkpoint_reporter: where :func:`report` sends metrics with a checkpoint
            directory (None: checkpoints are not kept, as outside a search).
        cpus: CPUs reserved for the trial (set torch's thread count from it).
        model: the space's ``model`` section.
        data: the space's ``data`` section.
        history: every metrics dict reported so far in this process for the trial.
        after_report: called by built-in trainables after each report with the
            model and the number of reports so far; returning True ends training
            there (used to retrain the best config up to its best step).
        attempt: 0 for a trial's first run, 1 for its first retry, and so on.
        trial_deadline: wall-clock time at which this attempt's time limit
            (``budget.trial_time``) ends, or None.
        restore: the checkpoint directory this attempt resumes from, or None.
        start_step: the step ``restore`` was reported at (0 without one); the
            attempt's first report is step ``start_step + 1``.
    """

    number: int = -1
    seed: int = 0
    deadline: float | None = None
    cpus: float = 1.0
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    reporter: Callable[[dict[str, Any]], None] | None = None
    checkpoint_reporter: Callable[[dict[str, Any], Path], None] | None = None
    stop_check: Callable[[], bool] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    after_report: Callable[[Any, int], bool] | None = None
    attempt: int = 0
    trial_deadline: float | None = None
    restore: Path | None = None
    start_step: int = 0


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


def report(metrics: dict[str, Any], checkpoint: str | Path | dict[str, Any] | None = None
           ) -> None:
    """Report one evaluation of the running trial (e.g. after each epoch).

    Args:
        metrics: metric name to value; must contain the search's objective metric.
            Values that are not finite numbers end the trial as FAIL with the
            reason stored.
        checkpoint: what a retry of this trial resumes from: a directory (copied
            by Ray Tune into the search's storage, so it may be removed afterwards),
            or a JSON-serialisable dict (written to a fresh directory as
            ``hpo_state.json``, read back by :func:`checkpoint_state`).

    Raises:
        TypeError: ``checkpoint`` is neither a directory nor a JSON-serialisable dict.
        FileNotFoundError: ``checkpoint`` names a directory that does not exist.
    """
    ctx = trial_context()
    ctx.history.append(dict(metrics))
    if checkpoint is not None and ctx.checkpoint_reporter is not None:
        _report_with_checkpoint(ctx.checkpoint_reporter, dict(metrics), checkpoint)
    elif ctx.reporter is not None:
        ctx.reporter(dict(metrics))


def _report_with_checkpoint(send: Callable[[dict[str, Any], Path], None],
                            metrics: dict[str, Any],
                            checkpoint: str | Path | dict[str, Any]) -> None:
    if isinstance(checkpoint, dict):
        from hpo.trainables._checkpoint import state_directory

        with state_directory(checkpoint) as folder:
            send(metrics, folder)
        return
    if not isinstance(checkpoint, (str, Path)):
        raise TypeError(f"hpo.report: checkpoint must be a directory or a dict, got "
                        f"{type(checkpoint).__name__} {checkpoint!r}")
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise FileNotFoundError(f"hpo.report: checkpoint directory {str(folder)!r} "
                                "does not exist")
    send(metrics, folder)


def checkpoint_dir() -> Path | None:
    """The checkpoint this attempt of the trial resumes from (None on a first run, or
    when the failed attempt reported none)."""
    return trial_context().restore


def checkpoint_state() -> dict[str, Any] | None:
    """The dict given as ``report(..., checkpoint={...})`` that this attempt resumes
    from, or None."""
    folder = checkpoint_dir()
    if folder is None or not (folder / STATE_FILE).is_file():
        return None
    state = json.loads((folder / STATE_FILE).read_text())
    return state if isinstance(state, dict) else None


def should_stop() -> bool:
    """True when the trial should wrap up now (the search's budget or the trial's time
    limit spent, or stopped by the scheduler)."""
    ctx = trial_context()
    now = time.time()
    if ctx.deadline is not None and now >= ctx.deadline:
        return True
    if ctx.trial_deadline is not None and now >= ctx.trial_deadline:
        return True
    return bool(ctx.stop_check and ctx.stop_check())
