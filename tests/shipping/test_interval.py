"""Seed-score summaries and the pick rule."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from hpo.shipping.interval import pick_key, summarise, t975


def test_interval_is_the_t_interval_of_the_mean() -> None:
    scores = [0.80, 0.78, 0.83, 0.76, 0.81]
    iv = summarise(scores)
    assert iv.n == 5 and iv.mean == pytest.approx(statistics.mean(scores))
    assert iv.std == pytest.approx(statistics.stdev(scores))
    half = 2.7764 * statistics.stdev(scores) / math.sqrt(5)  # t_{0.975, 4}
    assert (iv.low, iv.high) == pytest.approx((iv.mean - half, iv.mean + half))


def test_nan_scores_are_left_out_and_one_score_has_no_width() -> None:
    iv = summarise([0.7, float("nan")])
    assert (iv.n, iv.mean, iv.low, iv.high, iv.std) == (1, 0.7, 0.7, 0.7, 0.0)
    with pytest.raises(ValueError, match="no finite score"):
        summarise([float("inf")])


def test_t_quantiles_beyond_the_table_join_it_smoothly_and_reach_the_normal() -> None:
    assert t975(30) == pytest.approx(2.0423)
    assert t975(31) == pytest.approx(2.0395, abs=2e-4)
    assert t975(120) == pytest.approx(1.9799, abs=2e-4)
    assert t975(10 ** 6) == pytest.approx(1.95996, abs=1e-4)


def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = random.Random(0)
    covered = 0
    for _ in range(2000):
        iv = summarise([rng.gauss(0.5, 0.1) for _ in range(5)])
        covered += iv.low <= 0.5 <= iv.high
    assert 0.93 <= covered / 2000 <= 0.97


def test_lower_bound_prefers_the_steady_config_and_mean_the_higher_one() -> None:
    steady = summarise([0.80, 0.80, 0.81, 0.80, 0.80])
    jumpy = summarise([0.70, 0.95, 0.72, 0.93, 0.83])
    assert pick_key(jumpy, "mean", 1.0) > pick_key(steady, "mean", 1.0)
    assert pick_key(steady, "lower", 1.0) > pick_key(jumpy, "lower", 1.0)
    # For a minimised score the pessimistic end is the upper bound.
    assert pick_key(steady, "lower", -1.0) == -steady.high
    with pytest.raises(ValueError, match="got 'median'"):
        pick_key(steady, "median", 1.0)
