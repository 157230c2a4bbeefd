"""Running a user trainable inside a Ray Tune worker with hpo's trial context."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from hpo.trainables._context import TrialContext, use_context

#: Config key carrying hpo's per-trial facts to the worker; stripped before the user sees it.
CONTEXT_KEY = "__hpo__"


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


def _reporter() -> Callable[[dict[str, Any]], None]:
    """A report function for one trial: every report names its worker and node."""
    from ray import tune

    where: dict[str, Any] = {"hpo_worker": f"{socket.gethostname()}:{os.getpid()}"}
    node = _node_id()
    if node is not None:
        where["hpo_node"] = node

    def report(metrics: dict[str, Any]) -> None:
        for key, value in where.items():
            metrics.setdefault(key, value)
        tune.report(metrics)

    return report


def wrap_for_ray(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    """A Ray function trainable that runs ``fn`` with hpo's context installed."""

    def hpo_trainable(config: dict[str, Any]) -> None:
        config = dict(config)
        facts = config.pop(CONTEXT_KEY, {})
        ctx = TrialContext(
            number=int(facts.get("number", -1)),
            seed=int(facts.get("seed", 0)),
            deadline=facts.get("deadline"),
            cpus=float(facts.get("cpus", 1.0)),
            model=dict(facts.get("model") or {}),
            data=dict(facts.get("data") or {}),
            reporter=_reporter(),
            stop_check=_ray_stop_requested,
        )
        with use_context(ctx):
            fn(config)

    hpo_trainable.__name__ = getattr(fn, "__name__", "trainable")
    return hpo_trainable
