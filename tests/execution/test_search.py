"""Whole searches through Ray Tune with the synthetic trainable (a few seconds each)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import StudyMismatch, attrs

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _trials(url: str, name: str = "syn") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).trials


def test_asha_search_records_every_trial_truthfully(
    synthetic_space: Callable[..., Path], sqlite_url: str
) -> None:
    spec = load_space(synthetic_space(trials=10))
    result = run_search(spec, storage=sqlite_url, progress=False)
    trials = _trials(sqlite_url)
    assert len(trials) == 10 == result.complete + result.pruned
    assert result.pruned > 0, "ASHA should stop some of 10 trials"
    for t in trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        step = t.user_attrs[attrs.STEP]
        assert sorted(t.intermediate_values) == list(range(1, step + 1))
        assert {attrs.metrics_key(s) for s in range(1, step + 1)} <= set(t.user_attrs)
        if t.state == TrialState.COMPLETE:
            assert step == 4
            assert t.value == max(t.intermediate_values.values())
            assert t.intermediate_values[t.user_attrs[attrs.BEST_STEP]] == t.value
        else:
            stop = t.user_attrs[attrs.STOP]
            assert stop["by"] == "asha" and stop["rung"] == step < 4
            assert stop["score"] < stop["cutoff"]
            assert "cutoff" in stop["reason"]


def test_failures_and_bad_values_end_as_fail_with_reasons(
    synthetic_space: Callable[..., Path], sqlite_url: str
) -> None:
    extra = """
    mode: {type: categorical, choices: [ok, raise, nan, inf, text, none]}
    fail_at: {type: fixed, value: 2, when: {mode: raise}}
    bad_value_at: {type: fixed, value: 2, when: {mode: [nan, inf, text, none]}}
    bad_value: {type: categorical, choices: [.nan], when: {mode: nan}}
    bad_value_inf: {type: fixed, value: .inf, when: {mode: inf}}
    """
    path = synthetic_space(extra=extra, trials=12, sampler="random",
                           scheduler="fifo", sleep=0.0)
    spec = load_space(path)
    run_search(spec, storage=sqlite_url, progress=False)
    trials = _trials(sqlite_url)
    assert len(trials) == 12
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for t in trials:
        mode = t.params["mode"]
        if mode == "ok" or mode == "inf":  # bad_value_inf is not what the trainable reads
            continue
        assert t.state == TrialState.FAIL, (mode, t.state)
        reason = t.user_attrs[attrs.FAIL_REASON]
        if mode == "raise":
            assert "synthetic failure at step 2" in reason
        elif mode == "nan":
            assert "not finite" in reason and "nan" in reason
        else:  # text or none: the trainable reports bad_value, unset here -> None
            assert "not a number" in reason and "None" in reason
        assert t.user_attrs[attrs.STEP] <= 2


def test_infinite_scores_never_win(synthetic_space: Callable[..., Path], sqlite_url: str) -> None:
    extra = """
    bad_value_at: 1
    bad_value: {type: categorical, choices: [.inf, -.inf, .nan]}
    """
    spec = load_space(synthetic_space(extra=extra, trials=4, scheduler="fifo", sleep=0.0))
    result = run_search(spec, storage=sqlite_url, progress=False)
    assert result.failed == 4 and result.best_value is None
    assert all(t.state == TrialState.FAIL for t in _trials(sqlite_url))


def test_time_budget_stops_running_trials_as_pruned(
    synthetic_space: Callable[..., Path], sqlite_url: str
) -> None:
    spec = load_space(synthetic_space(trials=50, steps=100, sleep=0.2, scheduler="fifo"))
    # How the deadline is computed and checked is tested in simulated time
    # (test_ledger.py); here, that a real search honours it and records the cut.
    result = run_search(spec, storage=sqlite_url, progress=False, time_budget=12.0)
    assert result.stopped_by_budget
    trials = _trials(sqlite_url)
    assert trials and not [t for t in trials if t.state == TrialState.RUNNING]
    cut = [t for t in trials if t.user_attrs.get(attrs.STOP, {}).get("by") == "budget"]
    assert cut and all(t.state == TrialState.PRUNED for t in cut)
    for t in cut:
        assert t.user_attrs[attrs.STEP] == max(t.intermediate_values, default=0)


def test_resume_continues_to_total_and_refuses_changed_experiment(
    synthetic_space: Callable[..., Path], sqlite_url: str
) -> None:
    path = synthetic_space(trials=4)
    run_search(load_space(path), storage=sqlite_url, progress=False)
    run_search(load_space(path), storage=sqlite_url, progress=False, trials=7)
    trials = _trials(sqlite_url)
    assert sorted(t.number for t in trials) == list(range(7))
    before = [(t.number, t.state, t.value) for t in trials]

    for changed in (synthetic_space(trials=4, direction="minimize"),
                    synthetic_space(trials=4, extra="z: {type: int, low: 0, high: 3}")):
        with pytest.raises(StudyMismatch, match="resume refused"):
            run_search(load_space(changed), storage=sqlite_url, progress=False, trials=9)
        assert [(t.number, t.state, t.value) for t in _trials(sqlite_url)] == before

    fresh = run_search(load_space(changed), storage=sqlite_url, progress=False, trials=2,
                       overwrite=True)
    assert fresh.started == 2 and len(_trials(sqlite_url)) == 2


@pytest.mark.parametrize("scheduler", ["{name: median, options: {min_samples_required: 2}}",
                                       "hyperband"])
def test_other_schedulers_explain_their_stops(
    synthetic_space: Callable[..., Path], sqlite_url: str, scheduler: str
) -> None:
    spec = load_space(synthetic_space(trials=10, scheduler=scheduler, sampler="random"))
    run_search(spec, storage=sqlite_url, progress=False)
    trials = _trials(sqlite_url)
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for t in trials:
        if t.state == TrialState.PRUNED:
            stop = t.user_attrs[attrs.STOP]
            assert stop["reason"] and stop["rung"] == t.user_attrs[attrs.STEP]


def test_custom_trainable_by_module_path(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(
        "name: custom\ntrainable: tests._trainables:flaky\n"
        "objective: {metric: neg_loss, direction: maximize}\n"
        "scheduler: fifo\nbudget: {trials: 4, max_steps: 3}\nconcurrency: 2\n"
        "params:\n  x: {type: float, low: 0, high: 4}\n"
    )
    run_search(load_space(path), storage=sqlite_url, progress=False)
    trials = {t.number: t for t in _trials(sqlite_url, "custom")}
    assert len(trials) == 4
    for number, t in trials.items():
        if number % 2:
            assert t.state == TrialState.FAIL
            assert f"flaky trainable refused trial {number}" in t.user_attrs[attrs.FAIL_REASON]
        else:
            assert t.state == TrialState.COMPLETE and t.value == -t.params["x"]


def test_trials_stopped_early_hand_their_actor_to_the_next_trial(
    tmp_path: Path, sqlite_url: str
) -> None:
    # A stopped trial must leave its worker at once even when its next step cannot be
    # interrupted, or Ray starts a new worker process (seconds) for the next trial.
    space = tmp_path / "slow.yaml"
    space.write_text(
        "trainable: tests._trainables:slow_steps\n"
        "objective: {metric: score, direction: maximize}\n"
        "sampler: {name: random, options: {seed: 1}}\n"
        "scheduler: {name: asha, options: {grace_period: 1, reduction_factor: 4}}\n"
        "budget: {trials: 6, max_steps: 3}\nconcurrency: 2\n"
        "params:\n  x: {type: float, low: 0.0, high: 1.0}\n  pause: 2.5\n")
    result = run_search(load_space(space), storage=sqlite_url, progress=False,
                        score_test=False)
    assert result.pruned >= 2
    study = optuna.load_study(study_name=result.study_name, storage=sqlite_url)
    workers = {t.user_attrs[attrs.WORKER] for t in study.trials}
    assert len(workers) <= 2, workers


@pytest.mark.postgres
def test_search_on_postgresql(synthetic_space: Callable[..., Path], postgres_url: str) -> None:
    name = f"pg-{int(time.time() * 1000)}"
    spec = load_space(synthetic_space(trials=5))
    result = run_search(spec, study_name=name, storage=postgres_url, progress=False)
    study = optuna.load_study(study_name=name, storage=postgres_url)
    try:
        assert len(study.trials) == 5 == result.complete + result.pruned
        assert study.user_attrs[attrs.FINGERPRINT] == spec.fingerprint()
        assert all(t.intermediate_values for t in study.trials)
    finally:
        optuna.delete_study(study_name=name, storage=postgres_url)


@pytest.mark.parametrize("joined", [False, True], ids=["ray-up", "joined"])
def test_placement_left_to_the_machine_comes_from_the_ray_cluster(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, joined: bool
) -> None:
    # The session's Ray has 2 CPUs: one trial at a time with both, as each trial is told.
    if joined:  # as if joining a cluster: the study is prepared while "Ray starts"
        from hpo.execution import _ray_init

        monkeypatch.setattr(_ray_init, "ray_is_up", lambda: False)
        monkeypatch.setattr(_ray_init, "ray_target", lambda address=None: "auto")
        monkeypatch.setattr(_ray_init, "ensure_ray", lambda *a, **kw: False)
    space = tmp_path / "placed.yaml"
    space.write_text("name: placed\ntrainable: tests._trainables:cpus_seen\n"
                     "objective: {metric: score}\nscheduler: fifo\n"
                     "budget: {trials: 2, max_steps: 1}\n"
                     "params:\n  x: {type: float, low: 0, high: 1}\n")
    run_search(load_space(space), storage=sqlite_url, progress=True)
    assert "placement: 1 trial at a time, 2 CPUs each (2 CPUs on the Ray cluster" in \
        capsys.readouterr().err
    study = optuna.load_study(study_name="placed", storage=sqlite_url)
    placement = study.user_attrs[attrs.RUNS][-1]["placement"]
    assert (placement["concurrency"], placement["cpus"]) == (1, 2.0)
    assert [attrs.metrics_history(t.user_attrs)[0][1]["cpus"] for t in study.trials] == [2.0] * 2


def test_shipped_custom_trainable_space_runs(sqlite_url: str) -> None:
    root = Path(__file__).resolve().parents[2]
    spec = load_space(root / "search_spaces" / "custom_trainable.yaml")
    result = run_search(spec, storage=sqlite_url, progress=False, trials=6)
    assert result.complete + result.pruned == 6 and result.best_value is not None
    best = optuna.load_study(study_name="custom-quadratic", storage=sqlite_url).best_trial
    assert best.value == min(best.intermediate_values.values())


@pytest.mark.parametrize(
    ("old", "new"),
    [("options: {seed: 0}", "options: {no_such_option: 1}"),
     ("options: {grace_period: 1}", "options: {no_such_option: 1}")],
    ids=["sampler", "scheduler"],
)
def test_bad_component_options_are_refused_before_the_store_is_written(
    synthetic_space: Callable[..., Path], tmp_path: Path, old: str, new: str
) -> None:
    db = tmp_path / "untouched.db"
    path = synthetic_space()
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ValueError, match="bad options"):
        run_search(load_space(path), storage=f"sqlite:///{db}", progress=False)
    assert not db.exists()


def test_consecutive_runs_propose_no_config_twice(
    synthetic_space: Callable[..., Path], sqlite_url: str
) -> None:
    # The space pins the sampler seed (0): each run still samples with its own seed.
    path = synthetic_space(trials=4, sampler="random", scheduler="fifo", steps=1, sleep=0)
    first = run_search(load_space(path), storage=sqlite_url, progress=False)
    second = run_search(load_space(path), storage=sqlite_url, progress=False, trials=8)
    assert (first.run_index, second.run_index) == (0, 1)
    assert first.run_seed != second.run_seed
    configs = [(t.params["x"], t.params["y"]) for t in _trials(sqlite_url)]
    assert len(configs) == 8 == len(set(configs))
    study = optuna.load_study(study_name="syn", storage=sqlite_url)
    assert study.user_attrs[attrs.SEED] == 0
    assert [r["seed"] for r in study.user_attrs[attrs.RUNS]] == [first.run_seed,
                                                                 second.run_seed]


def test_enqueued_configs_run_first(synthetic_space: Callable[..., Path], sqlite_url: str) -> None:
    path = synthetic_space(trials=2, sampler="tpe", scheduler="fifo", steps=1, sleep=0)
    run_search(load_space(path), storage=sqlite_url, progress=False)
    study = optuna.load_study(study_name="syn", storage=sqlite_url)
    study.enqueue_trial({"x": 0.3, "y": 0.6})
    study.enqueue_trial({"x": 0.9})  # the rest sampled
    run_search(load_space(path), storage=sqlite_url, progress=False, trials=5)
    trials = sorted(_trials(sqlite_url), key=lambda t: t.number)
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETE for t in trials)
    assert (trials[2].params["x"], trials[2].params["y"]) == (0.3, 0.6)
    assert trials[3].params["x"] == 0.9 and 0.0 <= trials[3].params["y"] <= 1.0
    assert trials[2].value == pytest.approx(1.0)  # the synthetic optimum, as enqueued


def test_user_sampler_and_scheduler_by_module_path(
    synthetic_space: Callable[..., Path], sqlite_url: str
) -> None:
    path = synthetic_space(
        trials=6, steps=3, sleep=0,
        sampler="tests._trainables:random_sampler",
        scheduler="{name: 'tests._trainables:StopHighX', options: {threshold: 0.5}}")
    run_search(load_space(path), storage=sqlite_url, progress=False)
    trials = _trials(sqlite_url)
    assert len(trials) == 6
    for t in trials:
        if t.params["x"] > 0.5:
            assert t.state == TrialState.PRUNED and t.user_attrs[attrs.STEP] == 2
            assert t.user_attrs[attrs.STOP]["by"] == "tests._trainables:StopHighX"
        else:
            assert t.state == TrialState.COMPLETE and t.user_attrs[attrs.STEP] == 3


def test_numpy_scores_count_and_a_report_without_the_objective_fails_only_its_trial(
    tmp_path: Path, sqlite_url: str
) -> None:
    space = tmp_path / "np.yaml"
    space.write_text(
        "trainable: tests._trainables:numpy_scores\n"
        "objective: {metric: score, direction: maximize}\n"
        "scheduler: fifo\nbudget: {trials: 4, max_steps: 3}\nconcurrency: 2\n"
        "params:\n  x: {type: float, low: 0.1, high: 1.0}\n")
    result = run_search(load_space(space), storage=sqlite_url, progress=False, study_name="np")
    trials = sorted(_trials(sqlite_url, "np"), key=lambda t: t.number)
    assert len(trials) == 4 and result.started == 4
    for t in trials:
        if t.number % 2:
            assert t.state == TrialState.FAIL
            assert "has no objective 'score' (it reported loss)" in \
                t.user_attrs[attrs.FAIL_REASON]
        else:
            assert t.state == TrialState.COMPLETE
            assert t.value == pytest.approx(2 * t.params["x"], rel=1e-6)
            assert t.user_attrs[attrs.metrics_key(2)]["seen"] == 2.0
