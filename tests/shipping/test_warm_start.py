"""Warm start across spaces that differ: kept, dropped with a reason, enqueued, marked."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from hpo.shipping import keys
from hpo.shipping.warm_start import seed_search, translate
from hpo.spaces import load_space, parse_space

NEW = """\
name: {name}
trainable: synthetic
objective: {{metric: score, direction: maximize}}
sampler: {{name: random, options: {{seed: 0}}}}
scheduler: {{name: fifo}}
budget: {{trials: 4, max_steps: 2}}
concurrency: 2
params:
  x: {{type: float, low: 0.0, high: 0.45}}
  y: {{type: float, low: 0.0, high: 1.0}}
  w: {{type: categorical, choices: [1, 2]}}
  steps: 2
"""


def test_translate_keeps_what_the_new_space_can_take_and_says_why_the_rest_goes() -> None:
    spec = parse_space(textwrap.dedent(NEW.format(name="ship-ws-unit")))
    seed = translate(spec, "old", 7, 0.9, {"x": 0.8, "y": 0.25, "z": 3, "w": 5})
    assert seed.kept == {"y": 0.25}
    assert seed.dropped == {
        "x": "0.8 is outside the new range [0.0, 0.45]",
        "w": "5 is not among the new choices [1, 2]",
        "z": "not a parameter of the new space",
    }
    stepped = parse_space(textwrap.dedent(NEW.format(name="s")).replace(
        "high: 1.0}", "high: 1.0, step: 0.5}"))
    assert translate(stepped, "old", 1, 0.5, {"y": 0.25}).dropped == {
        "y": "0.25 is off the new step 0.5 from 0.0"}


def test_a_search_warm_started_from_a_different_space_runs_the_seeds_first_and_marks_them(
        ray_cluster: None, synthetic_space: Callable[..., Path], sqlite_url: str,
        tmp_path: Path) -> None:
    from hpo.execution import run_search

    old = load_space(synthetic_space(name="ship-ws-old", trials=6, steps=2, sleep=0.0,
                                     extra="z: {type: categorical, choices: [1, 2, 3]}\n"))
    run_search(old, storage=sqlite_url, progress=False, score_test=False)
    source = optuna.load_study(study_name="ship-ws-old", storage=sqlite_url)
    best = sorted(source.get_trials(states=(optuna.trial.TrialState.COMPLETE,)),
                  key=lambda t: -t.value)[:3]

    new_path = tmp_path / "ship_ws_new.yaml"
    new_path.write_text(textwrap.dedent(NEW.format(name="ship-ws-new")))
    new = load_space(new_path)
    said = io.StringIO()
    seeded = seed_search(new, None, sqlite_url, "ship-ws-old", out=said)
    assert [s.trial for s in seeded] == [t.number for t in best]
    for seed, trial in zip(seeded, best):
        assert "z" in seed.dropped and seed.dropped["z"] == "not a parameter of the new space"
        assert seed.kept["y"] == trial.params["y"]
        assert ("x" in seed.kept) == (trial.params["x"] <= 0.45)
    text = said.getvalue()
    assert "dropped z: not a parameter of the new space" in text
    assert f"{len(seeded)} configs enqueued in study ship-ws-new" in text

    run_search(new, storage=sqlite_url, progress=False, score_test=False)
    trials = optuna.load_study(study_name="ship-ws-new", storage=sqlite_url).get_trials()
    assert len(trials) == 4
    marked = [t for t in trials if keys.WARM_START in t.user_attrs]
    assert [t.number for t in marked] == list(range(len(seeded)))  # run first
    for t, seed in zip(marked, seeded):
        assert t.user_attrs[keys.WARM_START] == seed.mark()
        assert {k: t.params[k] for k in seed.kept} == seed.kept
        assert set(t.params) == {"x", "y", "w"}  # the dropped ones were sampled anew
    # Seeding the same study again enqueues nothing twice.
    assert seed_search(new, None, sqlite_url, "ship-ws-old", out=io.StringIO()) == []


def test_an_unknown_source_study_is_refused_by_name(sqlite_url: str) -> None:
    spec = parse_space(textwrap.dedent(NEW.format(name="ship-ws-none")))
    optuna.create_study(study_name="other", storage=sqlite_url)
    with pytest.raises(ValueError, match="--warm-start: no study 'missing'"):
        seed_search(spec, None, sqlite_url, "missing", out=io.StringIO())


def test_hpo_run_warm_start_flag_drops_an_out_of_range_value_and_marks_the_seeds(
        ray_cluster: None, synthetic_space: Callable[..., Path], sqlite_url: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import main
    from hpo.execution import run_search

    old = load_space(synthetic_space(name="ship-flag-old", trials=4, steps=2, sleep=0.0,
                                     scheduler="{name: fifo}"))  # nothing pruned
    source = optuna.create_study(study_name="ship-flag-old", storage=sqlite_url,
                                 direction="maximize")
    # The synthetic optimum (x=0.3, y=0.6) and a near neighbour are the two best trials.
    source.enqueue_trial({"x": 0.3, "y": 0.6})
    source.enqueue_trial({"x": 0.31, "y": 0.6})
    run_search(old, storage=sqlite_url, progress=False, score_test=False)

    new_path = tmp_path / "ship_flag_new.yaml"
    new_path.write_text(textwrap.dedent(NEW.format(name="ship-flag-new")).replace(
        "high: 0.45", "high: 0.305"))
    code = main(["run", str(new_path), "--storage", sqlite_url, "--warm-start",
                 "ship-flag-old", "--quiet", "--no-test-score", "--trials", "3"])
    assert code == 0
    said = capsys.readouterr().err
    assert "dropped x: 0.31 is outside the new range [0.0, 0.305]" in said
    trials = optuna.load_study(study_name="ship-flag-new", storage=sqlite_url).get_trials()
    first, second = trials[0], trials[1]
    assert first.params["x"] == 0.3 and first.params["y"] == 0.6
    assert first.user_attrs[keys.WARM_START]["dropped"] == {}
    assert second.params["y"] == 0.6 and second.params["x"] != 0.31
    assert second.user_attrs[keys.WARM_START]["dropped"] == {
        "x": "0.31 is outside the new range [0.0, 0.305]"}
