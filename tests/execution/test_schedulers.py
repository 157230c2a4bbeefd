"""Scheduler wrappers driven with simulated results (no Ray cluster, no real time)."""

from __future__ import annotations

import ast
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ray.tune.schedulers import MedianStoppingRule, TrialScheduler

from hpo.execution import _schedulers
from hpo.execution._clock import SimulatedClock
from hpo.execution._ledger import Ledger
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


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_asha_stops_nothing_at_a_rung_until_enough_trials_reached_it(
        sqlite_url: str, scheduler: str) -> None:
    opts = {"grace_period": 1, "reduction_factor": 2, "check_rungs": False}
    if scheduler == "hyperband":
        opts["brackets"] = 1
    ledger, sched = _setup(sqlite_url, scheduler, min_samples_required=2, **opts)
    assert _feed(ledger, sched, "a", 1, 0.9) == TrialScheduler.CONTINUE
    # Ray alone would stop b: below a, the only trial at the rung.
    assert _feed(ledger, sched, "b", 1, 0.5) == TrialScheduler.CONTINUE
    assert ledger.entry("b").stop is None
    assert _feed(ledger, sched, "c", 1, 0.4) == TrialScheduler.STOP
    assert "of 2 earlier trials" in ledger.entry("c").stop["reason"]
    # b was recorded at the rung as usual: it counts toward the cutoff c missed.
    assert ledger.entry("c").stop["cutoff"] == pytest.approx(0.7)

    _ledger, ray_alone = _setup(sqlite_url.replace(".db", "-ray.db"), scheduler, **opts)
    _feed(_ledger, ray_alone, "a", 1, 0.9)
    assert _feed(_ledger, ray_alone, "b", 1, 0.5) == TrialScheduler.STOP


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_min_samples_required_must_be_a_whole_number_of_trials(bad: object) -> None:
    spec = parse_space(SPACE % ("maximize", ""))
    with pytest.raises(ValueError, match="min_samples_required must be an integer >= 1"):
        make_scheduler(Component("asha", {"min_samples_required": bad}), spec, 4)


def test_unknown_scheduler_and_bad_options() -> None:
    spec = parse_space(SPACE % ("maximize", ""))
    with pytest.raises(ValueError, match="unknown scheduler 'pbt2'"):
        make_scheduler(Component("pbt2"), spec, 4)
    with pytest.raises(ValueError, match="bad options"):
        make_scheduler(Component("asha", {"grace": 1}), spec, 4)


# -- only Ray's public scheduler API ------------------------------------------------------

PRIVATE_RAY = re.compile(
    r"self\._(trial_info|rungs|metric_op|reduction_factor|max_t|time_attr|brackets|metric|mode"
    r"|results|compare_op|grace_period|min_samples_required|min_time_slice|last_pause)\b"
    r"|\._rungs\b|\.cutoff\(|_on_insufficient_samples|_trials_beyond_time|_running_mean"
    r"|_best_result"
)


def test_schedulers_use_no_private_ray_attributes() -> None:
    source = Path(_schedulers.__file__).read_text()
    assert PRIVATE_RAY.findall(source) == []
    # Every underscored attribute the wrappers touch is their own (``_hpo_*``), so none
    # is Ray's and none can shadow one of Ray's.
    tree = ast.parse(source)
    private = {
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_") and not node.attr.startswith(("__", "_hpo_"))
    }
    defined = {
        node.name for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_")
        and not node.name.startswith(("__", "_hpo_"))
    }
    assert private == set()
    # Module-level helpers may be private; methods (which Ray's classes could also
    # define) may not.
    assert defined <= {"_asha_class", "_median_class", "_fifo_class", "_user_class", "_fmt"}


class _Book:
    """The part of the ledger the schedulers use."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.metric = spec.objective.metric
        self.stops: dict[str, dict[str, Any]] = {}
        self.fails: dict[str, str] = {}
        self.rungs: list[dict[str, Any]] = []
        self.rungs_record: dict[str, Any] | None = None
        self.clock = SimulatedClock()

    def record_rungs(self, record: dict[str, Any]) -> None:
        self.rungs.append(record)

    def mark_stopped(self, ray_id: str, info: dict[str, Any]) -> None:
        self.stops.setdefault(ray_id, info)

    def mark_failed(self, ray_id: str, reason: str) -> None:
        self.fails.setdefault(ray_id, reason)

    def mark_infeasible(self, ray_id: str, reason: str) -> None:
        self.fails.setdefault(ray_id, reason)

    def divergence_info(self, ray_id: str, result: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def step_offset(self, ray_id: str) -> int:
        return 0

    def entry(self, ray_id: str) -> Any:
        return SimpleNamespace(fail=self.fails.get(ray_id), stop=self.stops.get(ray_id),
                               infeasible=None)


class _Controller:
    """A controller with trials waiting to run (what would make Ray's median rule pause)."""

    def get_live_trials(self) -> list[Any]:
        return [SimpleNamespace(status="PENDING", trial_id="waiting")]


@pytest.mark.parametrize(("direction", "rf"), [("maximize", 2), ("minimize", 3)])
def test_asha_explained_cutoff_is_the_one_ray_decided_with(direction: str, rf: int) -> None:
    spec = parse_space(SPACE % (direction, ""))
    book = _Book(spec)
    max_t = 16
    sched: Any = make_scheduler(
        Component("asha", {"grace_period": 1, "reduction_factor": rf}), spec, max_steps=max_t
    )
    sched.ledger = book
    milestones = {rf**k for k in range(8) if rf**k < max_t}
    sign = 1.0 if direction == "maximize" else -1.0
    rng = random.Random(20)
    controller = _Controller()
    live = {f"t{i}": 0 for i in range(40)}
    level = {tid: rng.random() for tid in live}
    for tid in live:
        sched.on_trial_add(controller, FakeTrial(tid))
    stopped = judged_and_kept = 0
    while live:
        tid = rng.choice(sorted(live))
        trial, step = FakeTrial(tid), live[tid] + 1
        score = round(sign * (level[tid] + 0.02 * step) + rng.gauss(0, 0.05), 3)
        result = {"training_iteration": step, "accuracy": score}
        judged = sched._hpo_rung_cutoff(tid, step) if step in milestones else None
        action = sched.on_trial_result(controller, trial, result)
        if step >= max_t:
            assert action == TrialScheduler.STOP and tid not in book.stops
        elif judged is None:
            assert action == TrialScheduler.CONTINUE and tid not in book.stops
        else:
            cutoff = judged[0]
            worse = sign * score < sign * cutoff
            assert (action == TrialScheduler.STOP) == worse, (tid, step, score, cutoff)
            if worse:
                stopped += 1
                stop = book.stops[tid]
                assert stop["by"] == "asha" and stop["rung"] == step
                assert stop["score"] == score and stop["cutoff"] == cutoff
                assert f"of {judged[1]} earlier trials" in stop["reason"]
            else:
                judged_and_kept += 1
        if action == TrialScheduler.STOP:
            sched.on_trial_complete(controller, trial, result)
            del live[tid]
        else:
            live[tid] = step
    assert stopped >= 10 and judged_and_kept >= 10


def test_median_rule_never_pauses_with_too_few_samples() -> None:
    spec = parse_space(SPACE % ("maximize", ""))
    ours: Any = make_scheduler(
        Component("median", {"grace_period": 1, "min_samples_required": 3}), spec, max_steps=8
    )
    ours.ledger = _Book(spec)
    plain = MedianStoppingRule(time_attr="training_iteration", metric="accuracy", mode="max",
                               grace_period=1, min_samples_required=3)
    controller = _Controller()
    actions: dict[str, list[str]] = {"ours": [], "plain": []}
    for name, sched in (("ours", ours), ("plain", plain)):
        for tid in "ab":
            sched.on_trial_add(controller, FakeTrial(tid))
        for step in range(1, 9):
            for tid, acc in (("a", 0.9), ("b", 0.2)):
                result = {"training_iteration": step, "accuracy": acc}
                actions[name].append(sched.on_trial_result(controller, FakeTrial(tid), result))
    # Ray's own rule, unchanged, would pause here (so the check below means something).
    assert TrialScheduler.PAUSE in actions["plain"]
    assert set(actions["ours"]) == {TrialScheduler.CONTINUE}


@pytest.mark.parametrize("option", [{"min_time_slice": 5}, {"hard_stop": False}])
def test_median_rule_refuses_options_that_would_pause(option: dict[str, object]) -> None:
    spec = parse_space(SPACE % ("maximize", ""))
    with pytest.raises(ValueError, match="bad options"):
        make_scheduler(Component("median", option), spec, 4)
