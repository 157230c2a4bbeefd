"""Search-space validation: every bad input names the file, the field and the value."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from hpo.spaces import SpaceError, define_by_run, load_space, parse_space

BASE = """\
trainable: synthetic
objective: {metric: score}
params:
"""


def _error(text: str, tmp_path: Path) -> SpaceError:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("params", "field", "quoted"),
    [
        ("  lr: {type: float, low: 0.1, high: 0.01}", "params.lr.low", "low=0.1, high=0.01"),
        ("  lr: {type: float, low: 0.0, high: 1.0, log: true}", "params.lr.low", "low=0.0"),
        ("  lr: {type: float, low: -1, high: 1.0, log: true}", "params.lr.low", "low=-1"),
        ("  bs: {type: int, low: 1, high: 8, step: 0}", "params.bs.step", "step=0"),
        ("  bs: {type: float, low: 1, high: 8, step: -0.5}", "params.bs.step", "step=-0.5"),
        ("  opt: {type: categorical, choices: []}", "params.opt.choices", "[]"),
        ("  opt: {type: choice, choices: [a]}", "params.opt.type", "'choice'"),
        ("  lr: {type: float, low: 0.1, high: 1, scale: log}", "params.lr.scale", "'scale'"),
        ("  r: {type: int, low: 1, high: 8, when: {strategy: lora}}", "params.r.when.strategy",
         "'strategy'"),
        ("  lr: {type: float, low: abc, high: 1}", "params.lr.low", "'abc'"),
        ("  bs: {type: int, low: 1.5, high: 8}", "params.bs.low", "1.5"),
    ],
)
def test_invalid_parameter_is_named_with_its_value(
    tmp_path: Path, params: str, field: str, quoted: str
) -> None:
    err = _error(BASE + params + "\n", tmp_path)
    messages = [str(p) for p in err.problems]
    assert any(m.startswith(field) and quoted in m for m in messages), messages


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = _error(BASE + "  lr: {type: float, low: 0.1\n  x: [\n", tmp_path)
    assert "YAML syntax error" in str(err) and "line" in str(err)


def test_unknown_top_level_key_and_bad_sections(tmp_path: Path) -> None:
    text = BASE.replace("objective: {metric: score}", "objective: {metric: score, direction: up}")
    text = "budgets: 3\nsampler: annealing\nscheduler: pbt2\n" + text + "  x: 1\n"
    err = _error(text, tmp_path)
    fields = {p.field for p in err.problems}
    assert {"budgets", "objective.direction", "sampler.name", "scheduler.name"} <= fields
    assert "'up'" in str(err) and "'annealing'" in str(err) and "'pbt2'" in str(err)


def test_condition_value_must_be_a_choice_of_its_parent(tmp_path: Path) -> None:
    text = BASE + ("  strategy: {type: categorical, choices: [full, lora]}\n"
                   "  rank: {type: int, low: 2, high: 8, when: {strategy: lorra}}\n")
    err = _error(text, tmp_path)
    assert "'lorra'" in str(err) and "params.rank.when.strategy" in str(err)


def test_condition_cycle_is_reported(tmp_path: Path) -> None:
    text = BASE + ("  a: {type: categorical, choices: [1, 2], when: {b: 1}}\n"
                   "  b: {type: categorical, choices: [1, 2], when: {a: 1}}\n")
    assert "cycle" in str(_error(text, tmp_path))


def test_missing_file_is_a_space_error(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="cannot read file"):
        load_space(tmp_path / "nope.yaml")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = BASE + ("  a: {type: float, low: 2, high: 1}\n"
                   "  b: {type: categorical, choices: []}\n")
    assert len(_error(text, tmp_path).problems) == 2


SPACE = """\
trainable: synthetic
objective: {metric: accuracy, direction: maximize}
params:
  lr: {type: float, low: 1e-5, high: 1e-3, log: true}
  bs: [16, 32]
  layers: {type: int, low: 1, high: 6, step: 1}
  dropout: {type: float, low: 0.0, high: 0.3, step: 0.1}
  epochs: 3
  strategy: {type: categorical, choices: [full, lora, freeze]}
  rank: {type: int, low: 4, high: 32, log: true, when: {strategy: lora}}
  alpha: {type: float, low: 8, high: 64, when: {strategy: lora}}
  frozen: {type: int, low: 1, high: 5, when: {strategy: [freeze]}}
"""


def test_valid_space_compiles_with_conditions() -> None:
    spec = parse_space(SPACE, "inline.yaml")
    sample = define_by_run(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        config = sample(trial)
        assert 1e-5 <= config["lr"] <= 1e-3 and config["bs"] in (16, 32)
        assert config["epochs"] == 3
        assert ("rank" in config) == (config["strategy"] == "lora")
        assert ("alpha" in config) == (config["strategy"] == "lora")
        assert ("frozen" in config) == (config["strategy"] == "freeze")
        # Only sampled parameters reach Optuna; conditional ones only when active.
        assert set(trial.params) == set(config) - {"epochs"}
        seen.add(config["strategy"])
        study.tell(trial, 0.0)
    assert seen == {"full", "lora", "freeze"}


def test_child_declared_before_parent_is_ordered_after_it() -> None:
    text = BASE + ("  rank: {type: int, low: 4, high: 8, when: {strategy: lora}}\n"
                   "  strategy: [full, lora]\n")
    spec = parse_space(text)
    assert [p.name for p in spec.params] == ["strategy", "rank"]


def test_fingerprint_tracks_experiment_not_budget() -> None:
    spec = parse_space(SPACE)
    same = parse_space(SPACE + "budget: {trials: 99, time: 10}\nconcurrency: 4\n")
    assert spec.fingerprint() == same.fingerprint()
    assert spec.fingerprint() != parse_space(SPACE.replace("maximize", "minimize")).fingerprint()
    assert spec.fingerprint() != parse_space(SPACE.replace("accuracy", "f1")).fingerprint()
    assert spec.fingerprint() != parse_space(SPACE.replace("high: 6", "high: 7")).fingerprint()


def test_shipped_spaces_validate() -> None:
    folder = Path(__file__).resolve().parents[2] / "search_spaces"
    files = sorted(folder.glob("*.yaml"))
    assert files
    for path in files:
        load_space(path)


def test_absent_concurrency_and_cpu_stay_not_given_for_the_placement() -> None:
    # None, not a default: the placement tells "not given" from a value the space chose.
    spec = parse_space(SPACE)
    assert spec.concurrency is None and spec.resources.cpu is None
    assert spec.resources.gpu == 0.0
    auto = parse_space(SPACE + "concurrency: auto\nresources: {cpu: auto, gpu: 0.5}\n")
    assert auto.concurrency is None and auto.resources.cpu is None
    assert auto.resources.gpu == 0.5
    given = parse_space(SPACE + "concurrency: 3\nresources: {cpu: 2}\n")
    assert given.concurrency == 3 and given.resources.cpu == 2


@pytest.mark.parametrize(
    ("extra", "field", "quoted"),
    [("concurrency: 0\n", "concurrency", "or auto, got 0"),
     ("concurrency: many\n", "concurrency", "got 'many'"),
     ("resources: {cpu: 0}\n", "resources.cpu", "or auto, got 0"),
     ("resources: {cpu: lots}\n", "resources.cpu", "'lots'")],
)
def test_bad_concurrency_or_cpu_is_named(tmp_path: Path, extra: str, field: str,
                                         quoted: str) -> None:
    messages = [str(p) for p in _error(SPACE + extra, tmp_path).problems]
    assert any(m.startswith(field) and quoted in m for m in messages), messages
