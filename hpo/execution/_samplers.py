"""Optuna samplers by name (see :mod:`hpo.execution._registry`), imported lazily."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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
    return _startup_of(optuna.samplers.TPESampler, opts, default_n=5)


def _random(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(**opts)


def _gp(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return _startup_of(optuna.samplers.GPSampler, opts, default_n=10)


def _startup_of(make: Callable[..., optuna.samplers.BaseSampler], opts: dict[str, Any], *,
                default_n: int) -> optuna.samplers.BaseSampler:
    """``make(**opts)`` with its start-up trials drawn as ``opts["startup"]`` says.

    ``startup`` is hpo's option (see :mod:`hpo.execution._startup`), not the sampler's;
    ``default_n`` is the sampler's own default ``n_startup_trials``.
    """
    from hpo.execution._startup import with_startup

    startup = opts.pop("startup", "random")
    sampler = make(**opts)
    return with_startup(sampler, startup, int(opts.get("n_startup_trials", default_n)),
                        opts.get("seed"))


def _cmaes(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.CmaEsSampler(**opts)


def _qmc(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.QMCSampler(**opts)


def _nsga2(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.NSGAIISampler(**opts)


FACTORIES = {
    "tpe": _tpe, "random": _random, "gp": _gp, "cmaes": _cmaes, "qmc": _qmc, "nsga2": _nsga2,
}


def make_sampler(component: Component, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``component``: a built-in or ``module:attr``.

    Raises:
        ValueError: unknown name, or options the sampler does not take.
    """
    from hpo.execution._registry import is_import_path, load_attr, name_error

    problem = name_error("sampler", component.name)
    if problem is not None:
        raise ValueError(problem)
    opts = dict(component.options)
    if is_import_path(component.name):
        factory = _user_factory(component.name)
        if seed is not None and _takes_seed(load_attr("sampler", component.name)):
            opts["seed"] = seed
    else:
        factory = FACTORIES[component.name]
        if seed is not None:  # a run's own seed (see hpo.execution._runs) beats the space's
            opts["seed"] = seed
    try:
        return factory(opts)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"sampler {component.name!r}: bad options {component.options!r}: {exc}"
        ) from exc


def _user_factory(path: str) -> Callable[[dict[str, Any]], optuna.samplers.BaseSampler]:
    from hpo.execution._registry import load_attr

    target = load_attr("sampler", path)

    def build(opts: dict[str, Any]) -> optuna.samplers.BaseSampler:
        import optuna

        sampler = target(**opts)
        if not isinstance(sampler, optuna.samplers.BaseSampler):
            raise ValueError(f"sampler {path!r} made {type(sampler).__name__}, "
                             "not an optuna.samplers.BaseSampler")
        return sampler

    return build


def _takes_seed(target: Any) -> bool:
    try:
        return "seed" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
