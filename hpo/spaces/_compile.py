"""Turning a validated space into an Optuna define-by-run function."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpo.spaces._spec import SearchSpec

if TYPE_CHECKING:
    import optuna


def define_by_run(spec: SearchSpec) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A function that samples one config from ``trial``, honouring conditions.

    Parameters are visited parents first; a conditional parameter is sampled
    (and so recorded in the Optuna trial) only when its condition holds, which
    keeps TPE's per-parameter models clean of values that had no effect.
    """
    params = spec.params

    def sample(trial: optuna.Trial) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for param in params:
            if all(cond.holds(config) for cond in param.when):
                config[param.name] = param.suggest(trial)
        return config

    return sample


def config_from_params(spec: SearchSpec, sampled: dict[str, Any]) -> dict[str, Any]:
    """Rebuild a trial's full config from the parameters Optuna recorded."""
    from hpo.spaces._params import FixedParam

    config: dict[str, Any] = {}
    for param in spec.params:
        if not all(cond.holds(config) for cond in param.when):
            continue
        if isinstance(param, FixedParam):
            config[param.name] = param.value
        elif param.name in sampled:
            config[param.name] = sampled[param.name]
    return config
