"""Optuna samplers by name, imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from hpo.spaces import Component


def _tpe(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    # Short fine-tuning searches run 10-30 trials; Optuna's default of 10 random
    # start-up trials would make most of them random search. Pruned trials feed TPE
    # through their intermediate values, so a few start-up trials are enough.
    opts.setdefault("n_startup_trials", 5)
    opts.setdefault("multivariate", True)
    opts.setdefault("group", True)
    opts.setdefault("constant_liar", True)  # parallel workers do not all propose the same point
    return optuna.samplers.TPESampler(**opts)


def _random(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(**opts)


def _gp(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(**opts)


def _cmaes(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.CmaEsSampler(**opts)


def _qmc(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.QMCSampler(**opts)


def _nsga2(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.NSGAIISampler(**opts)


SAMPLERS = {
    "tpe": _tpe, "random": _random, "gp": _gp, "cmaes": _cmaes, "qmc": _qmc, "nsga2": _nsga2,
}


def make_sampler(component: Component, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``component``.

    Raises:
        ValueError: unknown name, or options the sampler does not take.
    """
    factory = SAMPLERS.get(component.name)
    if factory is None:
        raise ValueError(
            f"unknown sampler {component.name!r}; choose one of {', '.join(SAMPLERS)}"
        )
    opts = dict(component.options)
    if seed is not None:  # a run's own seed (see hpo.execution._runs) beats the space's
        opts["seed"] = seed
    try:
        return factory(opts)
    except TypeError as exc:
        raise ValueError(
            f"sampler {component.name!r}: bad options {component.options!r}: {exc}"
        ) from exc
