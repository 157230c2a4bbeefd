"""``hpo run --widen``: ranges grown past the best trial's edge, fitting trials carried over."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpo.execution._claims import counts_as_done
from hpo.results import Store
from hpo.shipping.widen import carry_trials, record_lines, widen_space, widened_name
from hpo.spaces import parse_space
from hpo.storage import attrs

SPACE = """\
name: wide
trainable: synthetic
objective: {metric: score, direction: maximize}
sampler: {name: random, options: {seed: 0}}
scheduler: {name: fifo}
budget: {trials: 2, max_steps: 2}
params:
  lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
  dropout: {type: float, low: 0.0, high: 0.3}
  rank: {type: int, low: 4, high: 64, step: 4}
  opt: {type: categorical, choices: [adamw, sgd]}
  steps: 2
"""

DISTS = {"lr": FloatDistribution(1e-5, 1e-3, log=True), "dropout": FloatDistribution(0.0, 0.3),
         "rank": IntDistribution(4, 64, step=4), "opt": CategoricalDistribution(["adamw", "sgd"])}


def _source(url: str, name: str = "old") -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    rows = [  # (params, value, state)
        ({"lr": 1e-3, "dropout": 0.0, "rank": 64, "opt": "adamw"}, 0.9, "COMPLETE"),  # best
        ({"lr": 1e-4, "dropout": 0.1, "rank": 8, "opt": "sgd"}, 0.7, "COMPLETE"),
        ({"lr": 3e-4, "dropout": 0.2, "rank": 16, "opt": "adamw"}, None, "PRUNED"),
    ]
    for params, value, state in rows:
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=DISTS, value=value,
            state=getattr(optuna.trial.TrialState, state), intermediate_values={1: 0.5},
            user_attrs={attrs.STEP: 1 if state == "PRUNED" else 2}))
    # A config the widened space cannot have sampled: momentum is not one of its parameters.
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 1e-4, "dropout": 0.1, "rank": 8, "opt": "sgd", "momentum": 0.9},
        distributions={**DISTS, "momentum": FloatDistribution(0.0, 1.0)}, value=0.5))


def _snap(url: str, name: str = "old"):
    store = Store(url)
    try:
        return store.snapshot(name)
    finally:
        store.close()


def test_ranges_grow_past_the_edges_of_the_best_trial(sqlite_url: str) -> None:
    _source(sqlite_url)
    spec, widening = widen_space(parse_space(SPACE), _snap(sqlite_url))
    by_name = {p.name: p for p in spec.params}
    assert by_name["lr"].low == 1e-5 and by_name["lr"].high == pytest.approx(1e-2)  # log
    assert (by_name["rank"].low, by_name["rank"].high) == (4, 92)  # on its step of 4
    assert (by_name["dropout"].low, by_name["dropout"].high) == (0.0, 0.3)
    assert widening.left == {"dropout": "its bound is 0, a natural limit"}
    assert set(widening.ranges) == {"lr", "rank"} and widening.trial == 0
    assert spec.fingerprint() != parse_space(SPACE).fingerprint()  # another experiment
    assert any("rank: [4, 64] -> [4, 92]" in line for line in widening.lines())


def test_nothing_at_an_edge_or_no_best_trial_is_refused(sqlite_url: str) -> None:
    study = optuna.create_study(study_name="inside", storage=sqlite_url, direction="maximize")
    with pytest.raises(ValueError, match="no completed trial"):
        widen_space(parse_space(SPACE), _snap(sqlite_url, "inside"))
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 1e-4, "dropout": 0.1, "rank": 32, "opt": "sgd"}, distributions=DISTS,
        value=0.8))
    with pytest.raises(ValueError, match="nothing to widen in study 'inside'"):
        widen_space(parse_space(SPACE), _snap(sqlite_url, "inside"))


def test_fitting_trials_are_carried_once_marked_and_outside_the_budget(sqlite_url: str) -> None:
    _source(sqlite_url)
    spec, _ = widen_space(parse_space(SPACE), _snap(sqlite_url))
    target = optuna.create_study(study_name="new", storage=sqlite_url, direction="maximize")
    assert carry_trials(spec, _snap(sqlite_url), target) == (3, 1)
    assert carry_trials(spec, _snap(sqlite_url), target) == (0, 1)  # not added again
    trials = target.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert [t.user_attrs[attrs.CARRIED] for t in trials] == [
        {"study": "old", "trial": n} for n in (0, 1, 2)]
    assert trials[0].distributions["lr"].high == pytest.approx(1e-2)  # the widened range
    assert trials[2].intermediate_values == {1: 0.5} and trials[2].user_attrs[attrs.STEP] == 1
    assert not any(counts_as_done(t) for t in trials)


def test_record_lines_say_where_the_study_came_from() -> None:
    assert record_lines({}) == []
    line = record_lines({attrs.WIDENED: {
        "from": "old", "trial": 0, "ranges": {"rank": {"before": [4, 64], "after": [4, 92]}},
        "carried": 3, "left_out": 1}})[0]
    assert "widened from study 'old'" in line and "rank [4, 64] -> [4, 92]" in line
    assert "3 of its finished trials carried over" in line and "1 did not fit" in line


def test_hpo_run_widen_searches_on_in_a_new_study_from_the_old_trials(
        ray_cluster: None, synthetic_space: Callable[..., Path], sqlite_url: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import main
    from hpo.execution import run_search
    from hpo.spaces import load_space

    # The synthetic optimum is x=0.3: a range that stops there leaves the best at its edge.
    path = synthetic_space(name="edge-old", trials=4, steps=2, sleep=0.0,
                           scheduler="{name: fifo}")
    path.write_text(path.read_text().replace("x: {type: float, low: 0.0, high: 1.0}",
                                             "x: {type: float, low: 0.1, high: 0.3}"))
    source = optuna.create_study(study_name="edge-old", storage=sqlite_url,
                                 direction="maximize")
    source.enqueue_trial({"x": 0.3, "y": 0.6})
    run_search(load_space(path), storage=sqlite_url, progress=False, score_test=False)
    code = main(["run", str(path), "--storage", sqlite_url, "--widen", "edge-old", "--quiet",
                 "--no-test-score", "--trials", "2"])
    assert code == 0
    said = capsys.readouterr()
    assert "x: [0.1, 0.3] -> [0.1, 0.4]" in said.err
    assert "4 finished trials of edge-old carried over" in said.err
    new = optuna.load_study(study_name=widened_name("edge-old"), storage=sqlite_url)
    trials = new.get_trials()
    carried = [t for t in trials if t.user_attrs.get(attrs.CARRIED)]
    ran = [t for t in trials if not t.user_attrs.get(attrs.CARRIED)]
    assert len(carried) == 4 and len(ran) == 2  # the budget counts only trials run here
    assert all(0.1 <= t.params["x"] <= 0.4 for t in ran)
    assert new.user_attrs[attrs.WIDENED]["ranges"]["x"] == {
        "before": [0.1, 0.3], "after": [0.1, pytest.approx(0.4)]}
    assert main(["show", widened_name("edge-old"), "--storage", sqlite_url]) == 0
    assert "widened from study 'edge-old'" in capsys.readouterr().out
    # The same command again continues the new study and carries nothing twice.
    assert main(["run", str(path), "--storage", sqlite_url, "--widen", "edge-old", "--quiet",
                 "--no-test-score", "--trials", "3"]) == 0
    trials = optuna.load_study(study_name=widened_name("edge-old"), storage=sqlite_url
                               ).get_trials()
    assert sum(bool(t.user_attrs.get(attrs.CARRIED)) for t in trials) == 4
    assert len(trials) == 7
    assert main(["run", str(path), "--storage", sqlite_url, "--widen", "edge-old",
                 "--study", "edge-old"]) == 2
    assert "needs a new study" in capsys.readouterr().err
    assert main(["run", str(path), "--storage", sqlite_url, "--widen", "missing"]) == 2
    assert "no study named 'missing'" in capsys.readouterr().err
