"""The ledger's bookkeeping, driven directly with simulated events (no Ray)."""

from __future__ import annotations

import math
import time

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution._book import Ledger, bad_value_reason
from hpo.spaces import define_by_run, parse_space
from hpo.storage import attrs, open_study

SPACE = """\
trainable: synthetic
objective: {metric: score, direction: maximize, value: %s}
params:
  x: {type: float, low: 0, high: 1}
"""


def _ledger(url: str, total: int = 5, value: str = "best", deadline: float | None = None,
            name: str = "s") -> Ledger:
    spec = parse_space(SPACE % value)
    study = open_study(spec, name, url)
    return Ledger(study, spec, define_by_run(spec), total, deadline)


def _result(step: int, score: object) -> dict:
    return {"training_iteration": step, "score": score, "loss": 0.5, "hpo_worker": "h:1"}


def test_complete_trial_takes_best_value_and_records_curve(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url)
    config = ledger.start("a")
    assert config is not None and "x" in config
    for step, score in [(1, 0.5), (2, 0.8), (3, 0.7)]:
        ledger.record("a", _result(step, score))
    ledger.finish("a")
    ledger.flush()
    t = ledger.study.trials[0]
    assert t.state == TrialState.COMPLETE and t.value == 0.8
    assert t.intermediate_values == {1: 0.5, 2: 0.8, 3: 0.7}
    assert t.user_attrs[attrs.BEST_STEP] == 2 and t.user_attrs[attrs.STEP] == 3
    assert t.user_attrs[attrs.metrics_key(2)] == {"score": 0.8, "loss": 0.5}
    assert t.user_attrs[attrs.WORKER] == "h:1"


def test_metric_names_kept_on_the_study_across_runs(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=2)
    ledger.start("a")
    ledger.record("a", _result(1, float("nan")))
    ledger.record("a", {**_result(2, float("inf")), "eval_loss": 0.3})
    ledger.finish("a")
    ledger.flush()
    # A NaN score is no curve; names only ever grow.
    assert ledger.study.user_attrs[attrs.METRIC_NAMES] == ["eval_loss", "loss"]
    again = _ledger(sqlite_url, total=3)  # a resumed run starts from the stored names
    again.start("b")
    again.record("b", {"training_iteration": 1, "score": 0.9, "acc": 0.9})
    again.finish("b")
    again.flush()
    assert again.study.user_attrs[attrs.METRIC_NAMES] == ["acc", "eval_loss", "loss", "score"]


def test_last_value_mode(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, value="last")
    ledger.start("a")
    for step, score in [(1, 0.5), (2, 0.8), (3, 0.7)]:
        ledger.record("a", _result(step, score))
    ledger.finish("a")
    ledger.flush()
    assert ledger.study.trials[0].value == 0.7


def test_stopped_trial_is_pruned_with_explanation(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url)
    ledger.start("a")
    ledger.record("a", _result(1, 0.3))
    info = {"by": "asha", "rung": 1, "score": 0.3, "cutoff": 0.5, "reason": "below"}
    ledger.mark_stopped("a", info)
    ledger.finish("a")
    ledger.flush()
    t = ledger.study.trials[0]
    assert t.state == TrialState.PRUNED and t.user_attrs[attrs.STOP] == info
    assert t.user_attrs[attrs.STEP] == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "high", True])
def test_bad_objective_fails_with_reason(sqlite_url: str, bad: object) -> None:
    reason = bad_value_reason("score", bad)
    assert reason is not None and repr(bad) in reason
    ledger = _ledger(sqlite_url)
    ledger.start("a")
    ledger.record("a", _result(1, 0.4))
    ledger.record("a", _result(2, bad))
    ledger.mark_failed("a", reason)
    ledger.finish("a")
    ledger.flush()
    t = ledger.study.trials[0]
    assert t.state == TrialState.FAIL and repr(bad) in t.user_attrs[attrs.FAIL_REASON]
    assert t.intermediate_values == {1: 0.4}


def test_error_stores_traceback_and_trial_without_metric_fails(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url)
    ledger.start("a")
    ledger.start("b")
    ledger.error("a", "Traceback...\nRuntimeError: boom")
    ledger.finish("b")
    ledger.flush()
    a, b, prepared = ledger.study.trials  # the third: sampled ahead for the next start
    assert prepared.state == TrialState.WAITING
    assert a.state == TrialState.FAIL and a.user_attrs[attrs.FAIL_REASON].endswith("boom")
    assert b.state == TrialState.FAIL and "without reporting" in b.user_attrs[attrs.FAIL_REASON]


def test_close_all_prunes_open_trials_at_step_reached(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url)
    for rid in "abc":
        ledger.start(rid)
    ledger.record("a", _result(1, 0.2))
    ledger.record("a", _result(2, 0.4))
    ledger.finish("b")  # no metric: FAIL
    ledger.mark_failed("c", "objective 'score' is not finite: got nan")
    ledger.close_all("budget", "time budget of 10 s reached")
    ledger.flush()
    states = {t.number: t for t in ledger.study.trials}
    assert states[0].state == TrialState.PRUNED
    assert states[0].user_attrs[attrs.STOP]["by"] == "budget"
    assert states[0].user_attrs[attrs.STOP]["rung"] == 2
    assert states[2].state == TrialState.FAIL
    assert not ledger.study.get_trials(states=(TrialState.RUNNING,))


def test_budget_and_deadline_limit_new_trials(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=2)
    assert ledger.start("a") and ledger.start("b")
    assert ledger.start("c") is None
    late = _ledger(sqlite_url, total=5, deadline=time.time() - 1, name="late")
    assert late.start("a") is None


def test_resume_counts_finished_and_fails_orphans(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=3)
    ledger.start("a")
    ledger.record("a", _result(1, 0.5))
    ledger.finish("a")
    ledger.start("b")  # left RUNNING, as after a crash of the driver
    ledger.flush()
    again = _ledger(sqlite_url, total=3)
    orphan = again.study.trials[1]
    assert orphan.state == TrialState.FAIL and "orphaned" in orphan.user_attrs[attrs.FAIL_REASON]
    assert again.already_done == 1 and again.to_start == 2


def test_next_config_is_sampled_ahead_and_stamped_when_it_starts(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=3)
    first = ledger.start("a")
    ledger.flush()
    waiting = ledger.study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].number == 1 and waiting[0].datetime_start is None
    time.sleep(0.05)
    before = time.time()
    second = ledger.start("b")
    assert second is not None and first is not None
    assert second["x"] == waiting[0].params["x"] and second["x"] != first["x"]
    started = ledger.study.trials[1]
    assert started.state == TrialState.RUNNING
    # Optuna stores naive local datetimes; its start is when it started, not when sampled.
    assert started.datetime_start.timestamp() >= before - 0.01
    ledger.flush()
    assert len(ledger.study.trials) == 3  # one more prepared for the last start
    ledger.start("c")
    ledger.flush()
    assert len(ledger.study.trials) == 3  # the budget is used: nothing sampled ahead
    assert ledger.start("d") is None


def test_a_trial_sampled_ahead_but_never_started_waits_for_the_next_run(
        sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=2)
    ledger.start("a")
    ledger.record("a", _result(1, 0.5))
    ledger.finish("a")
    ledger.close_all("budget", "time budget reached")  # the search ends here
    ledger.close()
    left = ledger.study.get_trials(states=(TrialState.WAITING,))
    assert len(left) == 1
    from hpo.results import summarize
    from hpo.storage import open_storage

    (summary,) = summarize(open_storage(sqlite_url))
    assert summary.state == "finished" and summary.running == 0 and summary.waiting == 1
    again = _ledger(sqlite_url, total=2)
    assert again.already_done == 1 and again.to_start == 1
    config = again.start("b")
    assert config is not None and config["x"] == left[0].params["x"]
    assert again.study.trials[1].state == TrialState.RUNNING


def test_ledger_pickles_to_nothing(sqlite_url: str) -> None:
    import pickle

    ledger = _ledger(sqlite_url)
    assert pickle.loads(pickle.dumps(ledger)).__dict__ == {}


def test_optuna_load_study_reads_hpo_study(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url)
    ledger.start("a")
    ledger.record("a", _result(1, 0.9))
    ledger.finish("a")
    ledger.flush()
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    assert study.best_value == 0.9 and study.user_attrs[attrs.METRIC] == "score"
    assert attrs.SPACE_TEXT in study.user_attrs and attrs.VERSIONS in study.user_attrs
