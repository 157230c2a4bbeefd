"""Scheduler wrappers driven with simulated results (no Ray cluster, no real time)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from ray.tune.schedulers import TrialScheduler

from hpo.execution._book import Ledger
from hpo.execution._schedulers import make_scheduler
from hpo.spaces import Component, define_by_run, parse_space
from hpo.storage import attrs, open_study

SPACE = """\
trainable: synthetic
objective: {metric: accuracy, direction: %s %s}
params:
  x: {type: float, low: 0, high: 1}
"""


@dataclass(frozen=True)
class FakeTrial:
    trial_id: str


def _setup(url: str, scheduler: str, direction: str = "maximize", tiebreak: str = "",
           **options: object) -> tuple[Ledger, TrialScheduler]:
    spec = parse_space(SPACE % (direction, tiebreak))
    ledger = Ledger(open_study(spec, "sched", url), spec, define_by_run(spec), 50)
    sched = make_scheduler(Component(scheduler, dict(options)), spec, max_steps=4)
    sched.ledger = ledger
    return ledger, sched


def _feed(ledger: Ledger, sched: TrialScheduler, tid: str, step: int, acc: object,
          **extra: float) -> str:
    trial = FakeTrial(tid)
    if ledger.entry(tid) is None:
        ledger.start(tid)
        sched.on_trial_add(None, trial)
    result = {"training_iteration": step, "accuracy": acc, **extra}
    action = sched.on_trial_result(None, trial, result)
    ledger.record(tid, result)
    return action


def test_asha_stops_below_cutoff_and_explains(sqlite_url: str) -> None:
    ledger, sched = _setup(sqlite_url, "asha", grace_period=1, reduction_factor=2)
    for tid, acc in [("a", 0.7), ("b", 0.8), ("c", 0.9)]:
        assert _feed(ledger, sched, tid, 1, acc) == TrialScheduler.CONTINUE
    assert _feed(ledger, sched, "d", 1, 0.6) == TrialScheduler.STOP
    stop = ledger.entry("d").stop
    assert stop["by"] == "asha" and stop["rung"] == 1 and stop["score"] == 0.6
    assert stop["cutoff"] == pytest.approx(0.8) and "below the cutoff 0.8" in stop["reason"]
    ledger.finish("d")
    ledger.flush()
    assert ledger.study.trials[3].user_attrs[attrs.STOP] == stop


def test_asha_minimize_explains_above_cutoff(sqlite_url: str) -> None:
    ledger, sched = _setup(sqlite_url, "asha", "minimize", grace_period=1, reduction_factor=2)
    for tid, loss in [("a", 0.4), ("b", 0.3), ("c", 0.2)]:
        _feed(ledger, sched, tid, 1, loss)
    assert _feed(ledger, sched, "d", 1, 0.5) == TrialScheduler.STOP
    assert ledger.entry("d").stop["cutoff"] == pytest.approx(0.3)
    assert "above the cutoff" in ledger.entry("d").stop["reason"]


def test_reaching_max_steps_is_not_a_prune(sqlite_url: str) -> None:
    ledger, sched = _setup(sqlite_url, "asha", grace_period=1, reduction_factor=2)
    for step in range(1, 5):
        action = _feed(ledger, sched, "a", step, 0.5 + step / 10)
    assert action == TrialScheduler.STOP and ledger.entry("a").stop is None
    ledger.finish("a")
    ledger.flush()
    assert ledger.study.trials[0].state.name == "COMPLETE"


@pytest.mark.parametrize("bad", [math.nan, math.inf, "n/a"])
@pytest.mark.parametrize("name", ["asha", "median", "fifo"])
def test_bad_objective_is_stopped_at_once(sqlite_url: str, name: str, bad: object) -> None:
    ledger, sched = _setup(sqlite_url, name)
    assert _feed(ledger, sched, "a", 1, 0.5) == TrialScheduler.CONTINUE
    assert _feed(ledger, sched, "a", 2, bad) == TrialScheduler.STOP
    assert "at step 2" in ledger.entry("a").fail
    sched.on_trial_complete(None, FakeTrial("a"), {"training_iteration": 2, "accuracy": bad})


def test_ties_at_a_rung_are_cut_by_the_tiebreak_metric(sqlite_url: str) -> None:
    # Every trial sits at the majority-class rate after the first rung.
    plain, sched = _setup(sqlite_url, "asha", grace_period=1, reduction_factor=2)
    for tid in "abcd":
        assert _feed(plain, sched, tid, 1, 0.58, eval_loss=0.69) == TrialScheduler.CONTINUE

    ledger, sched = _setup(sqlite_url.replace(".db", "-tb.db"), "asha", "maximize",
                           ", tiebreak: eval_loss", grace_period=1, reduction_factor=2)
    for tid, loss in [("a", 0.60), ("b", 0.65), ("c", 0.62)]:
        _feed(ledger, sched, tid, 1, 0.58, eval_loss=loss)
    assert _feed(ledger, sched, "d", 1, 0.58, eval_loss=0.69) == TrialScheduler.STOP
    stop = ledger.entry("d").stop
    assert "tie-break on eval_loss" in stop["reason"] and stop["score"] == 0.58
    assert _feed(ledger, sched, "e", 1, 0.58, eval_loss=0.55) == TrialScheduler.CONTINUE
    # The stored objective is the raw value, not the nudged one.
    assert ledger.entry("e").best == 0.58


def test_median_rule_explains_with_the_median(sqlite_url: str) -> None:
    ledger, sched = _setup(sqlite_url, "median", grace_period=1, min_samples_required=2)
    for tid, acc in [("a", 0.8), ("b", 0.9)]:
        for step in (1, 2):
            _feed(ledger, sched, tid, step, acc)
    assert _feed(ledger, sched, "c", 1, 0.5) == TrialScheduler.STOP
    stop = ledger.entry("c").stop
    assert stop["by"] == "median" and stop["cutoff"] == pytest.approx(0.85)
    assert "median" in stop["reason"]


def test_unknown_scheduler_and_bad_options() -> None:
    spec = parse_space(SPACE % ("maximize", ""))
    with pytest.raises(ValueError, match="unknown scheduler 'pbt2'"):
        make_scheduler(Component("pbt2"), spec, 4)
    with pytest.raises(ValueError, match="bad options"):
        make_scheduler(Component("asha", {"grace": 1}), spec, 4)
