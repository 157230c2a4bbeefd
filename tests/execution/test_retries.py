"""Retries, resumed steps, time limits and divergence in the ledger, driven directly
with simulated events and a simulated clock (no Ray)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo.execution._clock import SimulatedClock
from hpo.execution._ledger import WAIT, Ledger
from hpo.execution._study_lock import StudyLock
from hpo.spaces import define_by_run, parse_space
from hpo.storage import attrs, open_storage, open_study
from hpo.trainables._wrap import CONTEXT_KEY

SPACE = """\
trainable: synthetic
objective: {metric: score, direction: maximize}
budget: {max_steps: 6, trial_time: 30}
max_retries: 2
divergence: {metric: loss, max_ratio: 10}
params:
  x: {type: float, low: 0, high: 1}
"""


def _ledger(url: str, total: int = 2, clock: SimulatedClock | None = None) -> Ledger:
    spec = parse_space(SPACE)
    storage = open_storage(url)
    study = open_study(spec, "r", storage)
    return Ledger(study, spec, define_by_run(spec), total, storage=storage,
                  lock=StudyLock(url, "r"), driver="h:1:a", clock=clock or SimulatedClock())


def _result(step: int, score: float, loss: float = 1.0) -> dict:
    return {"training_iteration": step, "score": score, "loss": loss}


def test_a_failed_attempt_runs_again_from_its_checkpoint(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=1)
    first = ledger.start("a")
    assert isinstance(first, dict)
    for step in (1, 2, 3):
        ledger.record("a", _result(step, 0.1 * step))
        if step == 2:
            ledger.on_checkpoint("a", "/ckpt/2")
    ledger.error("a", "Traceback ...\nRuntimeError: boom")
    # Budget used (one trial) but the failed one waits for its retry: not finished.
    again = ledger.start("b")
    assert isinstance(again, dict)
    assert {k: v for k, v in again.items() if k != CONTEXT_KEY} == \
        {k: v for k, v in first.items() if k != CONTEXT_KEY}
    facts = again[CONTEXT_KEY]
    assert (facts["attempt"], facts["restore"], facts["start_step"]) == (1, "/ckpt/2", 2)
    assert ledger.step_offset("b") == 2
    ledger.record("a", _result(4, 9.0))  # a late result of the dead attempt: ignored
    for raw in (1, 2, 3):  # steps 3, 4, 5: step 3 was stored by the first attempt
        ledger.record("b", _result(raw, 0.1 * (raw + 2)))
    ledger.finish("b")
    assert ledger.start("c") is None
    ledger.flush()
    t = ledger.study.trials[0]
    assert len(ledger.study.trials) == 1 and t.state == TrialState.COMPLETE
    assert sorted(t.intermediate_values) == [1, 2, 3, 4, 5]
    assert t.value == pytest.approx(0.5) and t.user_attrs[attrs.STEP] == 5
    [failed] = t.user_attrs[attrs.RETRIES]
    assert failed["attempt"] == 0 and failed["step"] == 3 and failed["resumes_from"] == 2
    assert failed["error"] == "RuntimeError: boom"


def test_retries_stop_at_max_retries_then_fail(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=1)
    for attempt, ray_id in enumerate("abc"):
        assert isinstance(ledger.start(ray_id), dict)
        ledger.error(ray_id, f"ValueError: attempt {attempt}")
    assert ledger.start("d") is None
    ledger.flush()
    t = ledger.study.trials[0]
    assert t.state == TrialState.FAIL and "attempt 2" in t.user_attrs[attrs.FAIL_REASON]
    assert [h["attempt"] for h in t.user_attrs[attrs.RETRIES]] == [0, 1]


def test_while_a_retry_may_come_the_searcher_is_told_to_wait(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=1)
    ledger.start("a")
    assert ledger.start("b") == WAIT  # "a" may still fail and need a retry
    ledger.record("a", _result(1, 0.5))
    ledger.finish("a")
    assert ledger.start("b") is None


def test_a_trial_past_its_time_limit_is_pruned_not_retried(sqlite_url: str) -> None:
    clock = SimulatedClock()
    ledger = _ledger(sqlite_url, total=2, clock=clock)
    ledger.start("a")
    ledger.start("b")
    ledger.record("a", _result(1, 0.5))
    clock.advance(31)
    ledger.error("a", "ActorDiedError: the worker died unexpectedly")  # ended at its limit
    ledger.error("b", "ActorDiedError: the worker died unexpectedly")  # never reported
    ledger.flush()
    a, b = ledger.study.trials
    assert a.state == TrialState.PRUNED and a.user_attrs[attrs.STOP]["by"] == "trial_time"
    assert "30 s" in a.user_attrs[attrs.STOP]["reason"] and a.user_attrs[attrs.STEP] == 1
    assert b.state == TrialState.FAIL and "budget.trial_time" in b.user_attrs[attrs.FAIL_REASON]
    assert attrs.RETRIES not in a.user_attrs and attrs.RETRIES not in b.user_attrs


def test_a_polling_trial_that_stopped_at_its_limit_is_pruned(sqlite_url: str) -> None:
    clock = SimulatedClock()
    ledger = _ledger(sqlite_url, total=1, clock=clock)
    ledger.start("a")
    ledger.record("a", _result(1, 0.5))
    clock.advance(30)
    ledger.finish("a")
    ledger.flush()
    t = ledger.study.trials[0]
    assert t.state == TrialState.PRUNED and t.user_attrs[attrs.STOP]["by"] == "trial_time"


@pytest.mark.parametrize(("losses", "stops_at"), [
    ((2.0, 5.0, 19.9, 20.1), 4),  # 10x its own start of 2.0 is 20
    ((2.0, float("nan")), 2),
    ((0.5, 0.4, 0.3, 0.2), None),
])
def test_divergence_is_judged_against_the_trials_own_start(
    sqlite_url: str, losses: tuple[float, ...], stops_at: int | None
) -> None:
    ledger = _ledger(sqlite_url, total=1)
    ledger.start("a")
    stopped = None
    for step, loss in enumerate(losses, start=1):
        info = ledger.divergence_info("a", _result(step, 0.5, loss))
        if info is not None:
            stopped = info
            break
    assert (stopped or {}).get("rung") == stops_at
    if stopped is not None:
        assert stopped["by"] == "divergence"


def test_an_infeasible_trial_is_told_to_the_sampler(sqlite_url: str) -> None:
    ledger = _ledger(sqlite_url, total=1)
    ledger.start("a")
    ledger.mark_infeasible("a", "out of memory (MemoryError): batch 256")
    ledger.finish("a")
    ledger.flush()
    t = ledger.study.trials[0]
    assert t.state == TrialState.PRUNED and t.user_attrs[attrs.INFEASIBLE] is True
    assert "out of memory" in t.user_attrs[attrs.FAIL_REASON]
    assert t.constraints == {"hpo_infeasible": 1.0}
