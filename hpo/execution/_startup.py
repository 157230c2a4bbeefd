"""A stratified start-up for model-based samplers: the first trials spread over each range.

A short fine-tuning search runs 4-10 trials before its sampler's model takes over, and
Optuna's start-up draws them at random. Four random learning rates from a log range all
land in the same half of it one time in eight; a search that then stops the slow
starters early may never see the other half. Here the first ``n`` trials form a Latin hypercube
instead: each numeric range is cut into ``n`` equal strata (in log space for log
ranges) and trial ``k`` takes a point in stratum ``perm[k]``, with a permutation of its
own for every parameter, so every stratum of every parameter is tried once. Trial 0
takes the middle of every range (Syne Tune's default first config; the middle of a log
learning-rate range is the usual fine-tuning rate), the others a random point in the
remaining strata, in random order. That first trial matters most: ASHA stops nothing
before a rung has a record, so it always runs to its end. Categorical parameters take
their choices in turn over the strata, so ``n`` at least as large as the number of
choices tries every choice.

Written here because Optuna has no such start-up: ``TPESampler`` and ``GPSampler`` draw
theirs with ``RandomSampler`` and take no other, and ``QMCSampler`` samples its first
trial at random and needs a search space that never changes, which conditional
parameters break. The wrapper uses only Optuna's public sampler interface and hands
every trial after the start-up, and every decision it does not take, to the sampler it
wraps. A trial's place in the design is its number in the study; enqueued trials
(warm starts) keep the values they were given, as Optuna does for any sampler.
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING, Any

# Imported only by the sampler factories (hpo.execution._samplers), which load Optuna anyway.
import numpy as np
import optuna

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

#: What the samplers' ``startup`` option takes.
STARTUPS = ("random", "stratified")


def stratified_point(distribution: BaseDistribution, u: float, stratum: int, strata: int
                     ) -> Any:
    """The value ``distribution`` takes at ``u`` in [0, 1) (stratum ``stratum`` of ``strata``).

    Numeric ranges map ``u`` linearly (log ranges in log space) and land on their step;
    categorical ones take choice ``stratum * len(choices) // strata``.
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[stratum * len(distribution.choices) // strata]
    if isinstance(distribution, FloatDistribution):
        low, high = distribution.low, distribution.high
        if distribution.step is not None:
            points = round((high - low) / distribution.step) + 1
            return min(low + min(int(u * points), points - 1) * distribution.step, high)
        if distribution.log:
            return min(math.exp(math.log(low) + u * (math.log(high) - math.log(low))), high)
        return low + u * (high - low)
    if isinstance(distribution, IntDistribution):
        low_i, high_i = distribution.low, distribution.high
        if distribution.log:  # Optuna's own rounding: the range widened by half a step
            raw = math.exp(math.log(low_i - 0.5) + u * (math.log(high_i + 0.5)
                                                       - math.log(low_i - 0.5)))
            return int(min(max(round(raw), low_i), high_i))
        points = (high_i - low_i) // distribution.step + 1
        return low_i + min(int(u * points), points - 1) * distribution.step
    raise TypeError(f"no stratified start-up for {type(distribution).__name__}")


class StratifiedStartupSampler(optuna.samplers.BaseSampler):
    """``base`` after ``n_startup_trials`` trials spread as a Latin hypercube."""

    def __init__(self, base: optuna.samplers.BaseSampler, n_startup_trials: int,
                 seed: int | None = None) -> None:
        self._base = base
        self._n = n_startup_trials
        # One seed for every parameter's permutation: drawn once when none is given.
        self._seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None \
            else int(seed)
        self._designs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def base(self) -> optuna.samplers.BaseSampler:
        return self._base

    def _in_startup(self, trial: FrozenTrial) -> bool:
        return trial.number < self._n

    def _design(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._designs:
            # Seeded by the parameter's name: the same parameter gets the same strata
            # whichever order a define-by-run space suggests it in.
            rng = np.random.default_rng([self._seed, zlib.crc32(name.encode())])
            middle = self._n // 2  # the stratum that holds u = 0.5
            others = rng.permutation([i for i in range(self._n) if i != middle])
            jitter = rng.random(self._n)
            jitter[0] = 0.5 * self._n - middle  # trial 0 at u = 0.5 exactly
            self._designs[name] = (np.concatenate([[middle], others]), jitter)
        return self._designs[name]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self._base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if self._in_startup(trial):
            return {}  # every parameter goes through sample_independent
        return self._base.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if not self._in_startup(trial) or param_distribution.single():
            return self._base.sample_independent(study, trial, param_name, param_distribution)
        perm, jitter = self._design(param_name)
        k = trial.number
        stratum = int(perm[k])
        return stratified_point(param_distribution, (stratum + float(jitter[k])) / self._n,
                                stratum, self._n)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._base.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial,
                    state: optuna.trial.TrialState, values: Any) -> None:
        self._base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._base.reseed_rng()


def with_startup(base: optuna.samplers.BaseSampler, startup: str, n_startup_trials: int,
                 seed: int | None) -> optuna.samplers.BaseSampler:
    """``base`` itself for ``startup="random"``; else wrapped in a stratified start-up.

    Raises:
        ValueError: ``startup`` is not one of :data:`STARTUPS`.
    """
    if startup not in STARTUPS:
        raise ValueError(f"startup: {startup!r} is not one of {', '.join(STARTUPS)}")
    if startup == "random" or n_startup_trials < 2:
        return base
    return StratifiedStartupSampler(base, n_startup_trials, seed)
