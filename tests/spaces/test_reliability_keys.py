"""The space keys for failures: max_retries, budget.trial_time and divergence."""

from __future__ import annotations

import pytest

from hpo.spaces import Divergence, SpaceError, parse_space

BASE = "trainable: synthetic\nobjective: {metric: %s, direction: %s}\nparams: {x: [1, 2]}\n"


def _space(extra: str, metric: str = "loss", direction: str = "minimize") -> str:
    return BASE % (metric, direction) + extra


def test_keys_are_read() -> None:
    spec = parse_space(_space("max_retries: 2\nbudget: {trial_time: 30}\n"
                              "divergence: {metric: eval_loss, max_ratio: 4}\n"))
    assert spec.max_retries == 2 and spec.budget.trial_time == 30
    assert spec.divergence == Divergence("eval_loss", 4.0)


def test_defaults_are_off_and_a_minimised_objective_is_the_default_loss() -> None:
    spec = parse_space(_space(""))
    assert spec.max_retries == 0 and spec.budget.trial_time is None
    assert spec.divergence is None
    assert parse_space(_space("divergence: {}\n")).divergence == Divergence("loss", 10.0)


def test_fingerprint_ignores_retries_and_limits() -> None:
    plain = parse_space(_space(""))
    tuned = parse_space(_space("max_retries: 3\nbudget: {trial_time: 5}\n"))
    assert plain.fingerprint() == tuned.fingerprint()


def test_divergence_bound_is_relative_to_the_start() -> None:
    rule = Divergence("loss", 10.0)
    assert rule.bound(2.0) == 20.0
    assert rule.bound(-1.0) == 8.0  # a negative start still has room above it


@pytest.mark.parametrize(("extra", "field", "shown"), [
    ("max_retries: -1\n", "max_retries", "-1"),
    ("max_retries: 1.5\n", "max_retries", "1.5"),
    ("budget: {trial_time: 0}\n", "budget.trial_time", "0"),
    ("budget: {trial_time: soon}\n", "budget.trial_time", "'soon'"),
    ("divergence: {max_ratio: 0.5}\n", "divergence.max_ratio", "0.5"),
    ("divergence: {metric: loss, factor: 3}\n", "divergence.factor", "unknown key"),
    ("divergence: fast\n", "divergence", "'fast'"),
])
def test_bad_values_name_file_field_and_value(extra: str, field: str, shown: str) -> None:
    with pytest.raises(SpaceError) as err:
        parse_space(_space(extra), "space.yaml")
    text = str(err.value)
    assert f"space.yaml: {field}: " in text and shown in text, text


def test_a_maximised_objective_needs_the_loss_named() -> None:
    with pytest.raises(SpaceError, match=r"divergence\.metric: .*got None"):
        parse_space(_space("divergence: {max_ratio: 3}\n", "accuracy", "maximize"), "s.yaml")
