"""The sampler's and scheduler's options, checked by building both before anything runs."""

from __future__ import annotations

import warnings
from typing import Any


def component_problems(spec: Any) -> list[str]:
    """What is wrong with the space's sampler and scheduler options, one message each.

    The space loader checks option names against what each component is known to take; a
    misspelt option (``n_startup_trial``) or a bad value (``startup: lhs``) is found only by
    the constructor, so both are built here as ``hpo run`` builds them. ``hpo validate``
    prints the messages; ``run_search`` refuses to start on them.
    """
    from optuna.exceptions import ExperimentalWarning

    from hpo.execution._samplers import make_sampler
    from hpo.execution._schedulers import make_scheduler

    problems = []
    try:
        with warnings.catch_warnings():  # Optuna marks some sampler options experimental
            warnings.filterwarnings("ignore", category=ExperimentalWarning)
            make_sampler(spec.sampler)
    except ValueError as exc:
        problems.append(str(exc))  # names the sampler, the options and what is wrong
    try:
        make_scheduler(spec.scheduler, spec, spec.budget.max_steps)
    except ValueError as exc:
        problems.append(str(exc))
    return problems
