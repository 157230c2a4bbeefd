"""The stratified start-up: the first trials cover every stratum, then the base sampler."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest

from hpo.execution._samplers import make_sampler
from hpo.execution._startup import StratifiedStartupSampler, with_startup
from hpo.spaces import Component

optuna.logging.set_verbosity(optuna.logging.WARNING)
LOW, HIGH = 2e-5, 5e-4


class _LowestSampler(optuna.samplers.RandomSampler):
    """A base whose own proposals are recognisable: always the low end of the range."""

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        d = param_distribution
        return d.choices[0] if hasattr(d, "choices") else d.low


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    out = {"lr": trial.suggest_float("lr", LOW, HIGH, log=True),
           "schedule": trial.suggest_categorical("schedule", ["linear", "cosine", "constant"]),
           "warmup": trial.suggest_float("warmup", 0.0, 0.2, step=0.05),
           "layers": trial.suggest_int("layers", 1, 8),
           "rank": trial.suggest_int("rank", 2, 64, log=True)}
    if out["schedule"] == "cosine":  # a conditional parameter
        out["cycles"] = trial.suggest_float("cycles", 0.5, 2.0)
    return out


def _ask(sampler: optuna.samplers.BaseSampler, n: int) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=sampler, direction="maximize")
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(_suggest(trial))
        study.tell(trial, 0.5)
    return configs


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_first_trials_cover_every_stratum_of_every_range(seed: int) -> None:
    n = 4
    configs = _ask(with_startup(_LowestSampler(), "stratified", n, seed), n)
    span = math.log(HIGH) - math.log(LOW)
    # (+1e-9: the first trial sits exactly on the boundary of the middle stratum)
    strata = sorted(int((math.log(c["lr"]) - math.log(LOW)) / span * n + 1e-9)
                    for c in configs)
    assert strata == [0, 1, 2, 3]  # one learning rate in each quarter of the log range
    assert all(LOW <= c["lr"] <= HIGH for c in configs)
    assert {c["schedule"] for c in configs} == {"linear", "cosine", "constant"}
    assert all(round(c["warmup"] / 0.05, 9).is_integer() for c in configs)  # on the step
    assert sorted((c["layers"] - 1) // 2 for c in configs) == [0, 1, 2, 3]  # 8 points, 4 strata
    assert all(2 <= c["rank"] <= 64 and isinstance(c["rank"], int) for c in configs)


def test_after_the_start_up_the_base_sampler_proposes() -> None:
    configs = _ask(with_startup(_LowestSampler(), "stratified", 3, seed=0), 5)
    assert len({c["lr"] for c in configs[:3]}) == 3
    assert [c["lr"] for c in configs[3:]] == [LOW, LOW]  # the base's own proposals
    assert [c["schedule"] for c in configs[3:]] == ["linear", "linear"]


def test_the_design_is_the_seeds_whatever_the_order_parameters_come_in() -> None:
    def ask_reversed(sampler: optuna.samplers.BaseSampler) -> list[float]:
        study = optuna.create_study(sampler=sampler)
        out = []
        for _ in range(4):
            trial = study.ask()
            trial.suggest_int("layers", 1, 8)
            out.append(trial.suggest_float("lr", LOW, HIGH, log=True))
            study.tell(trial, 0.0)
        return out

    forward = [c["lr"] for c in _ask(with_startup(_LowestSampler(), "stratified", 4, 7), 4)]
    assert ask_reversed(with_startup(_LowestSampler(), "stratified", 4, 7)) == forward
    assert ask_reversed(with_startup(_LowestSampler(), "stratified", 4, 8)) != forward


def test_enqueued_trials_keep_their_values() -> None:
    study = optuna.create_study(sampler=with_startup(_LowestSampler(), "stratified", 4, 0))
    study.enqueue_trial({"lr": 1e-4})
    trial = study.ask()
    assert _suggest(trial)["lr"] == 1e-4


def test_tpe_and_gp_take_the_startup_option() -> None:
    tpe = make_sampler(Component("tpe", {"n_startup_trials": 4, "startup": "stratified"}), 0)
    assert isinstance(tpe, StratifiedStartupSampler)
    assert isinstance(tpe.base, optuna.samplers.TPESampler)
    gp = make_sampler(Component("gp", {"startup": "stratified"}), 0)
    assert isinstance(gp, StratifiedStartupSampler)
    assert isinstance(gp.base, optuna.samplers.GPSampler)
    plain = make_sampler(Component("tpe", {"startup": "random"}), 0)
    assert isinstance(plain, optuna.samplers.TPESampler)
    with pytest.raises(ValueError, match=r"sampler 'tpe'.*'lhs' is not one of random, strat"):
        make_sampler(Component("tpe", {"startup": "lhs"}), 0)


def test_a_tpe_search_with_the_stratified_start_up_runs_to_its_model() -> None:
    sampler = make_sampler(Component("tpe", {"n_startup_trials": 4, "startup": "stratified"}),
                           0)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    study.optimize(lambda t: -abs(math.log10(_suggest(t)["lr"]) + 4.0), n_trials=12)
    assert len(study.trials) == 12
    assert abs(math.log10(study.best_params["lr"]) + 4.0) < 0.3


def test_the_first_trial_takes_the_middle_of_every_range() -> None:
    for n in (3, 4, 5):
        first = _ask(with_startup(_LowestSampler(), "stratified", n, seed=n), 1)[0]
        assert first["lr"] == pytest.approx(math.sqrt(LOW * HIGH))  # the log range's middle
        assert first["warmup"] == pytest.approx(0.1)
        assert first["schedule"] == ["linear", "cosine", "constant"][(n // 2) * 3 // n]
