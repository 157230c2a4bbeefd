"""The rung check: whether a rung's ranking predicts the final one, and ASHA moving its
first rung later when it does not (driven with simulated results, no Ray cluster)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from ray.tune.schedulers import TrialScheduler

from hpo.execution._ledger import Ledger
from hpo.execution._rung_check import (
    MIN_PAIRS,
    NOT_PREDICTIVE,
    PREDICTIVE,
    UNDECIDED,
    FirstRung,
    average_ranks,
    check_rungs,
    merge_records,
    milestones,
    spearman,
)
from hpo.execution._schedulers import make_scheduler
from hpo.spaces import Component, define_by_run, parse_space
from hpo.storage import attrs, open_study
from hpo.trainables._wrap import RUNG_ONLY_KEY

SPACE = """\
trainable: synthetic
objective: {metric: accuracy, direction: maximize}
params:
  x: {type: float, low: 0, high: 1}
"""


def _runs(*curves: list[float]) -> dict[str, list[tuple[float, float]]]:
    """Histories of trials reporting ``curve[k]`` at step ``k + 1``."""
    return {f"t{i}": [(float(k + 1), v) for k, v in enumerate(c)] for i, c in enumerate(curves)}


# -- the pure check -------------------------------------------------------------------------


def test_average_ranks_share_ties() -> None:
    assert list(average_ranks([0.5, 0.5, 0.7, 0.5, 0.9])) == [2.0, 2.0, 4.0, 2.0, 5.0]


def test_spearman_perfect_reversed_and_undefined() -> None:
    assert spearman([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.6, 0.5]) == pytest.approx(-1.0)
    # Monotone, not linear: still perfect.
    assert spearman([1, 2, 3, 4, 5], [1, 4, 9, 100, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) is None
    with pytest.raises(ValueError, match="differ in length: 2 and 3"):
        spearman([1, 2], [1, 2, 3])


def test_milestones_follow_ashas_rungs_below_max_t() -> None:
    assert milestones(1, 2, 4) == (1, 2)
    assert milestones(2, 2, 6) == (2, 4)
    assert milestones(1, 2, 3) == (1, 2)
    assert milestones(1, 3, 27) == (1, 3, 9)
    assert milestones(1, 1.5, 8) == (1, 2, 3, 4, 6)  # judged at the step that reaches 1.5
    with pytest.raises(ValueError, match="reduction_factor=1"):
        milestones(1, 1, 4)


def test_a_rung_that_ranks_as_the_end_does_is_predictive() -> None:
    curves = [[0.5 + 0.05 * i, 0.6 + 0.05 * i, 0.7 + 0.05 * i] for i in range(6)]
    check = check_rungs(_runs(*curves), [1, 2], max_t=3)
    assert [f.verdict for f in check.fits] == [PREDICTIVE, PREDICTIVE]
    assert check.fits[0].rho == pytest.approx(1.0) and check.fits[0].pairs == 6
    assert check.fits[0].against == 3 and check.first_rung == 1


def test_a_reversed_rung_moves_the_first_rung_past_it() -> None:
    # Slow starters finish best: rung 1 is reversed, rung 2 already ranks as the end does.
    curves = [[0.6 - 0.02 * i, 0.5 + 0.03 * i, 0.6 + 0.03 * i] for i in range(6)]
    check = check_rungs(_runs(*curves), [1, 2], max_t=3)
    rung1, rung2 = check.fits
    assert rung1.verdict == NOT_PREDICTIVE and rung1.rho == pytest.approx(-1.0)
    assert rung2.verdict == PREDICTIVE and check.first_rung == 2


def test_no_rung_predicts_so_no_trial_is_stopped_early() -> None:
    curves = [[0.6 - 0.02 * i, 0.6 - 0.02 * i, 0.5 + 0.03 * i] for i in range(6)]
    assert check_rungs(_runs(*curves), [1, 2], max_t=3).first_rung == 3


def test_ties_at_the_majority_rate_take_average_ranks() -> None:
    # Five of seven trials sit at the majority-class rate after epoch 1; the two above it
    # end worst. Average ranks give the tied trials one shared rank.
    majority = 0.58
    finals = [0.70, 0.74, 0.66, 0.80, 0.72, 0.60, 0.61]
    firsts = [majority] * 5 + [0.62, 0.65]
    check = check_rungs(_runs(*([a, b] for a, b in zip(firsts, finals, strict=True))),
                        [1], max_t=2)
    (fit,) = check.fits
    # Ranks at epoch 1: 3 (five times), 6, 7; at the end: 4, 6, 3, 7, 5, 1, 2. Ranking the
    # tied trials 1..5 in turn instead would give -0.5.
    assert fit.rho == pytest.approx(-17 / (18 * 28) ** 0.5)
    assert fit.rho < 0 and fit.verdict == NOT_PREDICTIVE and check.first_rung == 2


def test_every_trial_tied_at_a_rung_ranks_nothing() -> None:
    curves = [[0.58, 0.6 + 0.02 * i] for i in range(6)]
    (fit,) = check_rungs(_runs(*curves), [1], max_t=2).fits
    assert fit.rho == 0.0 and fit.verdict == NOT_PREDICTIVE


def test_too_few_pairs_decide_nothing() -> None:
    reversed_ = [[0.6 - 0.02 * i, 0.5 + 0.03 * i] for i in range(MIN_PAIRS - 1)]
    # Trials stopped at the rung (no later score) are no pairs.
    stopped = [[0.4]] * 10
    check = check_rungs(_runs(*reversed_, *stopped), [1], max_t=2)
    (fit,) = check.fits
    assert fit.verdict == UNDECIDED and fit.pairs == MIN_PAIRS - 1 and fit.rho is None
    assert check.first_rung == 1


def test_compares_with_the_furthest_step_enough_trials_reached() -> None:
    # Six trials reached step 2, only two the end (4): rung 1 is judged against step 2.
    short = [[0.5 + 0.01 * i, 0.9 - 0.01 * i] for i in range(4)]
    long = [[0.6 + 0.01 * i, 0.8 - 0.01 * i, 0.8, 0.8] for i in range(2)]
    (fit,) = check_rungs(_runs(*short, *long), [1], max_t=4).fits
    assert fit.against == 2 and fit.pairs == 6 and fit.verdict == NOT_PREDICTIVE


def test_compares_with_the_furthest_whole_split_score_not_a_subset_one() -> None:
    # budget.max_steps ended six trials at step 3, mid-epoch: their step-3 scores are on
    # the rung subset and rank as step 1 does; their whole-split scores at step 2 rank
    # the other way round. The rung is judged against step 2.
    curves = [[0.5 + 0.01 * i, 0.8 - 0.01 * i, 0.6 + 0.01 * i] for i in range(6)]
    histories = _runs(*curves)
    subset = {tid: {3.0} for tid in histories}
    (fit,) = check_rungs(histories, [1], max_t=4, partial=subset).fits
    assert fit.against == 2 and fit.rho == pytest.approx(-1.0)
    assert fit.verdict == NOT_PREDICTIVE
    # Without knowing which steps are subset scores it would compare with step 3.
    (blind,) = check_rungs(histories, [1], max_t=4).fits
    assert blind.against == 3 and blind.verdict == PREDICTIVE
    # A trial whose only later scores are on the subset adds no pair.
    (few,) = check_rungs(histories, [1], max_t=4,
                         partial={**subset, "t0": {2.0, 3.0}}).fits
    assert few.pairs == 5


def test_first_rung_moves_only_later_and_says_so_once() -> None:
    first = FirstRung((1, 2), max_t=3)
    reversed_ = [[0.6 - 0.02 * i, 0.5 + 0.03 * i, 0.6 + 0.03 * i] for i in range(6)]
    moves = []
    for i, curve in enumerate(reversed_):
        news = first.finished(f"t{i}", [(float(k + 1), v) for k, v in enumerate(curve)],
                              now=100.0 + i)
        assert news is not None
        moves += [news[1]] if news[1] else []
    assert first.step == 2 and not first.holds(2) and first.holds(1)
    (move,) = moves
    assert move["from"] == 1 and move["to"] == 2 and move["finished"] == MIN_PAIRS
    assert move["fits"][0]["rung"] == 1 and move["fits"][0]["verdict"] == NOT_PREDICTIVE
    # Rung 1 ranking well afterwards does not move it back.
    for i in range(20):
        first.finished(f"u{i}", [(1.0, 0.1 * i), (2.0, 0.1 * i), (3.0, 0.1 * i)], now=200.0)
    assert first.step == 2
    # A trial stopped at the first rung adds no pair: no check, nothing to store.
    assert first.finished("w", [(1.0, 0.5), (2.0, 0.5)], now=300.0) is None


def test_a_later_run_starts_at_the_moved_rung_and_records_keep_every_move() -> None:
    prior = {"first_rung": 2, "moves": [{"from": 1, "to": 2, "at": 5.0, "fits": []}]}
    assert FirstRung((1, 2, 4), max_t=8, prior=prior).step == 2
    assert FirstRung((1, 3), max_t=9, prior=prior).step == 3  # rungs changed: next one
    ours = {"first_rung": 4, "moves": [{"from": 2, "to": 4, "at": 9.0}]}
    other = {"first_rung": 2, "moves": [{"from": 1, "to": 2, "at": 7.0}]}
    merged = merge_records(other, ours)
    assert [m["at"] for m in merged["moves"]] == [7.0, 9.0] and merged["first_rung"] == 4
    assert merge_records(None, ours) == ours


# -- in the ASHA wrapper --------------------------------------------------------------------


@dataclass(frozen=True)
class FakeTrial:
    trial_id: str


def _setup(url: str, **options: object) -> tuple[Ledger, Any]:
    spec = parse_space(SPACE)
    ledger = Ledger(open_study(spec, "rungs", url), spec, define_by_run(spec), 50)
    opts = {"grace_period": 1, "reduction_factor": 2, **options}
    return ledger, make_scheduler(Component("asha", opts), spec, max_steps=4, ledger=ledger)


def _report(ledger: Ledger, sched: Any, tid: str, step: int, acc: float) -> str:
    trial = FakeTrial(tid)
    if ledger.entry(tid) is None:
        ledger.start(tid)
        sched.on_trial_add(None, trial)
    result = {"training_iteration": step, "accuracy": acc}
    action = sched.on_trial_result(None, trial, result)
    ledger.record(tid, result)
    if action == TrialScheduler.STOP:
        sched.on_trial_complete(None, trial, result)
        ledger.finish(tid)
    return str(action)


def _slow_starters(ledger: Ledger, sched: Any) -> None:
    """Six trials whose ranking at step 1 is the reverse of their ranking at step 2 and
    at the end (4); every one survives both rungs (each arrives above the others)."""
    tids = [f"t{i}" for i in range(6)]
    for i, tid in enumerate(tids):
        assert _report(ledger, sched, tid, 1, 0.50 + 0.01 * i) == TrialScheduler.CONTINUE
    for i, tid in reversed(list(enumerate(tids))):
        assert _report(ledger, sched, tid, 2, 0.80 - 0.01 * i) == TrialScheduler.CONTINUE
    for i, tid in enumerate(tids):
        _report(ledger, sched, tid, 3, 0.85 - 0.01 * i)
        assert _report(ledger, sched, tid, 4, 0.90 - 0.01 * i) == TrialScheduler.STOP


def test_asha_stops_no_trial_below_the_moved_first_rung(
        sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    ledger, sched = _setup(sqlite_url)
    with caplog.at_level(logging.WARNING, logger="hpo.execution._schedulers"):
        _slow_starters(ledger, sched)
    # Ray's rung 1 stops this trial (0.3 is below every score there); the check says rung
    # 1 does not predict, so the trial runs on to rung 2, where it is stopped.
    assert _report(ledger, sched, "late", 1, 0.30) == TrialScheduler.CONTINUE
    assert _report(ledger, sched, "late", 2, 0.30) == TrialScheduler.STOP
    ledger.flush()
    late = ledger.study.trials[-1]
    assert late.state.name == "PRUNED" and late.user_attrs[attrs.STOP]["rung"] == 2
    (line,) = [r.getMessage() for r in caplog.records if "first rung" in r.getMessage()]
    assert line.startswith("hpo: first rung moved from step 1 to step 2 after 5 finished")


def test_without_the_check_ray_stops_at_the_first_rung(sqlite_url: str) -> None:
    ledger, sched = _setup(sqlite_url, check_rungs=False)
    _slow_starters(ledger, sched)
    assert _report(ledger, sched, "late", 1, 0.30) == TrialScheduler.STOP
    ledger.flush()
    assert attrs.RUNGS not in ledger.study.user_attrs


def test_the_scheduler_tells_the_check_which_scores_are_on_the_subset(
        sqlite_url: str) -> None:
    # As _slow_starters, but every trial ends at step 3 with a subset score that ranks as
    # step 1 does: judged against it, rung 1 would look predictive and stay.
    ledger, sched = _setup(sqlite_url)
    tids = [f"t{i}" for i in range(6)]
    for i, tid in enumerate(tids):
        _report(ledger, sched, tid, 1, 0.50 + 0.01 * i)
    for i, tid in reversed(list(enumerate(tids))):
        _report(ledger, sched, tid, 2, 0.80 - 0.01 * i)
    for i, tid in enumerate(tids):
        trial = FakeTrial(tid)
        result = {"training_iteration": 3, "accuracy": 0.6 + 0.01 * i, RUNG_ONLY_KEY: 1.0}
        sched.on_trial_result(None, trial, result)
        ledger.record(tid, result)
        sched.on_trial_complete(None, trial, result)
        ledger.finish(tid)
    ledger.flush()
    record = ledger.study.user_attrs[attrs.RUNGS]
    (move,) = record["moves"]
    assert (move["from"], move["to"]) == (1, 2) and move["fits"][0]["against"] == 2


def test_the_move_is_stored_on_the_study_and_a_later_run_keeps_it(sqlite_url: str) -> None:
    ledger, sched = _setup(sqlite_url)
    _slow_starters(ledger, sched)
    ledger.flush()
    record = ledger.study.user_attrs[attrs.RUNGS]
    assert record["first_rung"] == 2 and record["rungs"] == [1, 2] and record["max_t"] == 4
    (move,) = record["moves"]
    assert (move["from"], move["to"], move["finished"]) == (1, 2, 5)
    (fit,) = move["fits"]
    assert fit["rung"] == 1 and fit["against"] == 4 and fit["pairs"] == 5
    assert fit["rho"] == pytest.approx(-1.0) and fit["verdict"] == NOT_PREDICTIVE
    assert record["checked"]["finished"] == 6
    assert [f["verdict"] for f in record["checked"]["fits"]] == [NOT_PREDICTIVE, PREDICTIVE]
    ledger.close()

    # The next run on the study: its own Ray rungs are empty, its first rung is not.
    again, sched = _setup(sqlite_url)
    for tid, acc in (("a", 0.8), ("b", 0.9), ("c", 0.85)):
        _report(again, sched, tid, 1, acc)
    assert _report(again, sched, "d", 1, 0.1) == TrialScheduler.CONTINUE
