"""The best config at the edge of its range: detection (log and linear, int and float),
the widened range it suggests, and what hpo show / hpo best / the end of hpo run say."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpo.results import TrialRecord
from hpo.results._edges import edge_lines, range_edges


def _rec(params: dict, dists: dict) -> TrialRecord:
    return TrialRecord(1, 7, "COMPLETE", 0.0, 1.0, (0.9,), params, dists)


def test_log_range_edge_is_measured_in_log_space():
    lr = FloatDistribution(1e-6, 1e-3, log=True)
    # 7e-4 is 70 % of the way in linear terms but 95 % of the way in log space.
    (edge,) = range_edges(_rec({"lr": 7.1e-4}, {"lr": lr}))
    assert edge.side == "high" and edge.position == pytest.approx(0.9504, abs=1e-3)
    low, high = edge.widened
    assert low == 1e-6 and high == pytest.approx(1e-3 * 10 ** 1.5)
    assert range_edges(_rec({"lr": 3e-4}, {"lr": lr})) == []  # 82.6 % in log space
    (edge,) = range_edges(_rec({"lr": 1.2e-6}, {"lr": lr}))
    assert edge.side == "low" and edge.widened[0] == pytest.approx(1e-6 / 10 ** 1.5)


def test_linear_int_and_natural_zero_bounds():
    d = {"warmup": FloatDistribution(0.0, 0.2), "rank": IntDistribution(4, 64),
         "dropout": FloatDistribution(0.0, 0.5), "opt": CategoricalDistribution(["a", "b"]),
         "fixed": IntDistribution(3, 3)}
    params = {"warmup": 0.196, "rank": 64, "dropout": 0.0, "opt": "a", "fixed": 3}
    edges = {e.param: e for e in range_edges(_rec(params, d))}
    assert set(edges) == {"warmup", "rank", "dropout"}
    assert edges["warmup"].widened == (0.0, pytest.approx(0.3))
    assert edges["rank"].widened == (4, 94) and edges["rank"].side == "high"
    assert edges["dropout"].widened is None  # 0 of a non-negative range: a natural limit
    assert "at the upper bound of its range [4, 64]" in edges["rank"].message()
    assert "try [4, 94]" in edges["rank"].message()
    assert "a natural limit" in edges["dropout"].message()
    assert "in the top 2 %" in edges["warmup"].message()


def test_no_edges_no_lines():
    assert edge_lines(None) == []
    d = {"lr": FloatDistribution(1e-5, 1e-3, log=True)}
    assert edge_lines(_rec({"lr": 1e-4}, d)) == []
    lines = edge_lines(_rec({"lr": 1e-3}, d))
    assert lines[0] == "best trial 7 sits at the edge of its search range:"
    assert "lr=0.001 sits at the upper bound" in lines[1] and "--widen <study>" in lines[2]


def test_show_and_best_say_so(tmp_path, capsys):
    from hpo.cli import main

    url = f"sqlite:///{tmp_path / 'edge.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="edge", storage=url, direction="maximize")
    d = {"lr": FloatDistribution(1e-5, 1e-3, log=True), "x": FloatDistribution(-1, 1)}
    for lr, x, value in ((9e-4, 0.0, 0.9), (1e-4, 0.5, 0.8)):
        study.add_trial(optuna.trial.create_trial(params={"lr": lr, "x": x}, distributions=d,
                                                  value=value))
    assert main(["show", "edge", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "best trial 0 sits at the edge" in out and "lr=0.0009 sits in the top 2 %" in out
    assert "x=" not in out.split("edge of its search range")[1]
    assert main(["best", "edge", "--storage", url, "--format", "json"]) == 0
    got = capsys.readouterr()
    assert got.out.lstrip().startswith("{") and "try [1e-05, 0.01]" in got.err
