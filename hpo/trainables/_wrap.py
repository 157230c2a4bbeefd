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
    # Ray sets this event when it stops a trial; it is checked only inside report(),
    # so a trainable polling it can leave mid-epoch and its actor is reused at once.
    try:
        from ray.train._internal.session import get_session
    except ImportError:
        return False
    session = get_session()
    event = getattr(session, "stop_event", None)
    return bool(event is not None and event.is_set())


def _ray_report(metrics: dict[str, Any]) -> None:
    from ray import tune

    metrics.setdefault("hpo_worker", f"{socket.gethostname()}:{os.getpid()}")
    tune.report(metrics)


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
            reporter=_ray_report,
            stop_check=_ray_stop_requested,
        )
        with use_context(ctx):
            fn(config)

    hpo_trainable.__name__ = getattr(fn, "__name__", "trainable")
    return hpo_trainable
