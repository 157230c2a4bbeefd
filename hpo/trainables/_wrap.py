"""Running a user trainable inside a Ray Tune worker with hpo's trial context."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo.trainables._context import Infeasible, TrialContext, use_context

#: Config key carrying hpo's per-trial facts to the worker; stripped before the user sees it.
CONTEXT_KEY = "__hpo__"
#: Report key by which a worker tells the driver its config is infeasible (out of memory).
INFEASIBLE_KEY = "hpo_infeasible"
#: Report key (1.0) of an evaluation on the fixed validation subset (``rung_eval_size``):
#: the scheduler judges it, but the value a trial is ranked and stored by never comes
#: from it (see hpo.trainables._common.StepAndReport).
RUNG_ONLY_KEY = "hpo_rung_only"
#: Seconds a trial may take to leave after ``should_stop()`` turned true at a time limit
#: before its worker process is ended (a trainable that never polls is stopped this way).
STOP_GRACE_S = 1.0
#: Exit status of a worker ended at a time limit.
TIME_LIMIT_EXIT = 75

log = logging.getLogger(__name__)


def _ray_stop_requested() -> bool:
    # Ray sets its session's stop event when it stops a trial and checks it only inside
    # report(), so a trainable polling it can leave mid-epoch and its actor is reused at
    # once. No public API says so: the lookup lives in hpo._compat.ray.
    from hpo._compat.ray import tune_stop_requested

    return tune_stop_requested()


def _node_id() -> str | None:
    """The id of the Ray node this process runs on (Ray's public runtime context)."""
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # noqa: BLE001 - not in a Ray worker: no node to record
        return None


def _where() -> dict[str, Any]:
    where: dict[str, Any] = {"hpo_worker": f"{socket.gethostname()}:{os.getpid()}"}
    node = _node_id()
    if node is not None:
        where["hpo_node"] = node
    return where


def _reporters() -> tuple[Callable[[dict[str, Any]], None],
                          Callable[[dict[str, Any], Path], None]]:
    """Report functions for one trial: every report names its worker and node; a
    checkpoint goes to Ray Tune as a ``tune.Checkpoint`` (Ray copies the directory
    into the search's storage before ``tune.report`` returns)."""
    from ray import tune

    where = _where()

    def report(metrics: dict[str, Any]) -> None:
        for key, value in where.items():
            metrics.setdefault(key, value)
        tune.report(metrics)

    def report_with_checkpoint(metrics: dict[str, Any], folder: Path) -> None:
        for key, value in where.items():
            metrics.setdefault(key, value)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(folder)))

    return report, report_with_checkpoint


def infeasible_reason(exc: BaseException) -> str | None:
    """Why ``exc`` says the config cannot run at all, or None for any other error.

    torch is not imported to recognise its out-of-memory error: a trainable that
    raised it has imported torch itself.
    """
    if isinstance(exc, Infeasible):
        return f"infeasible config: {exc}"
    if isinstance(exc, MemoryError):
        return f"out of memory (MemoryError): {exc}"
    kind = type(exc)
    if kind.__name__ == "OutOfMemoryError" and kind.__module__.startswith("torch"):
        return f"out of memory ({kind.__module__}.{kind.__name__}): {exc}"
    return None


class _TimeLimit:
    """Ends this worker process when a trial outlives its time limit by the grace.

    Python cannot interrupt a thread blocked in C (a sleep, a kernel, a hung read),
    so a trainable that never polls ``should_stop()`` is stopped by ending its
    process; Ray Tune sees the actor die and the driver's ledger, which knows the
    limit, records the trial as stopped at the step it reached.
    """

    def __init__(self, limit: float | None) -> None:
        self._done = threading.Event()
        self._limit = limit
        self._thread: threading.Thread | None = None
        if limit is not None:
            self._thread = threading.Thread(target=self._watch, name="hpo-trial-time-limit",
                                            daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        wait = (self._limit or 0.0) + STOP_GRACE_S - time.time()
        if self._done.wait(max(0.0, wait)):
            return
        log.warning("hpo: the trial passed its time limit and did not stop; ending its "
                    "worker process %d", os.getpid())
        os._exit(TIME_LIMIT_EXIT)

    def done(self) -> None:
        self._done.set()


def wrap_for_ray(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    """A Ray function trainable that runs ``fn`` with hpo's context installed."""

    def hpo_trainable(config: dict[str, Any]) -> None:
        config = dict(config)
        facts = config.pop(CONTEXT_KEY, {})
        started = time.time()
        trial_time = facts.get("trial_time")
        trial_deadline = None if trial_time is None else started + float(trial_time)
        limits = [t for t in (facts.get("deadline"), trial_deadline) if t is not None]
        report, report_with_checkpoint = _reporters()
        restore = facts.get("restore")
        ctx = TrialContext(
            number=int(facts.get("number", -1)),
            seed=int(facts.get("seed", 0)),
            deadline=facts.get("deadline"),
            cpus=float(facts.get("cpus") or 1.0),  # None: a spec never placed
            model=dict(facts.get("model") or {}),
            data=dict(facts.get("data") or {}),
            reporter=report,
            checkpoint_reporter=report_with_checkpoint,
            stop_check=_ray_stop_requested,
            attempt=int(facts.get("attempt", 0)),
            trial_deadline=trial_deadline,
            restore=None if restore is None else Path(restore),
            start_step=int(facts.get("start_step", 0)),
        )
        limit = _TimeLimit(min(limits) if limits else None)
        try:
            with use_context(ctx):
                fn(config)
        except (Exception, MemoryError) as exc:
            reason = infeasible_reason(exc)
            if reason is None:
                raise
            # Not raised on: Ray would count it as a failure to retry, and the same
            # config would run out of memory again. The driver records it instead.
            report({INFEASIBLE_KEY: reason})
        finally:
            limit.done()

    hpo_trainable.__name__ = getattr(fn, "__name__", "trainable")
    return hpo_trainable
