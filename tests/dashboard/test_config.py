"""Saved dashboard files: the shipped examples load; errors name file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.dashboard._config import ConfigError, load_dashboard, parse_dashboard

EXAMPLES = sorted((Path(__file__).parents[2] / "dashboards").glob("*.yaml"))


def test_two_examples_ship_and_load():
    assert len(EXAMPLES) >= 2
    for path in EXAMPLES:
        board = load_dashboard(path)
        assert board.studies and board.panels


@pytest.mark.parametrize(("raw", "needle"), [
    ({"studies": "bert"}, "field 'studies' = 'bert'"),
    ({"studies": ["a"], "panels": ["history", "pie"]}, "field 'panels' = 'history'"),
    ({"studies": ["a"], "colour": "red"}, "field 'colour' = 'red': unknown field"),
    ({"studies": ["a"], "filters": {"states": ["DONE"]}}, "field 'filters.states' = 'DONE'"),
    ({"studies": ["a"], "filters": {"trials": [5]}}, "field 'filters.trials' = [5]"),
    ({"studies": ["a"], "filters": {"params": {"lr": {"low": 1}}}},
     "field 'filters.params.lr' = {'low': 1}"),
    ({"studies": ["a"], "refresh_s": -1}, "field 'refresh_s' = -1"),
    ({"studies": ["a"], "importance_evaluator": "shap"}, "field 'importance_evaluator' = 'shap'"),
    ({"panels": ["summary"]}, "field 'studies' is required"),
])
def test_errors_quote_field_and_value(raw, needle):
    with pytest.raises(ConfigError) as err:
        parse_dashboard(raw, "boards/x.yaml")
    assert str(err.value).startswith("boards/x.yaml: ")
    assert needle in str(err.value)


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("studies: [a\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_dashboard(bad)
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_dashboard(tmp_path / "nope.yaml")


def test_patterns_and_filters(store):
    board = parse_dashboard({"studies": ["*-sst2"], "filters": {
        "states": ["COMPLETE"], "trials": [0, 11], "params": {"optimizer": ["adamw"],
                                                              "dropout": {"max": 0.4}}}})
    assert board.select(store.study_names()) == ["bert-sst2", "roberta-sst2"]
    snap = board.filters.apply(store.snapshot("bert-sst2"))
    assert snap.trials and all(
        r.state == "COMPLETE" and r.number <= 11 and r.params["optimizer"] == "adamw"
        and r.params["dropout"] <= 0.4 for r in snap.trials)
