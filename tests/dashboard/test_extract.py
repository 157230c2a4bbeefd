"""Extracted figure data and summaries of the synthetic studies, number by number."""

from __future__ import annotations

import itertools
import math

import pytest

from hpo import results
from hpo.dashboard import _analysis, _compare, _extract, _timeline
from hpo.results import TrialRecord
from hpo.storage import attrs

NOW = 4_000_000_000.0  # far future: the running trial has run until then


def test_summary_counts_best_duration_compute(store):
    s = results.summarize(store.snapshot("roberta-sst2"), NOW)
    assert s.counts["COMPLETE"] == 6 and s.counts["PRUNED"] == 11 and s.counts["FAIL"] == 1
    assert s.n_trials == 18 and s.state == "ended" and s.metric == "accuracy"
    snap = store.snapshot("roberta-sst2")
    best = max(r.values[0] for r in snap.trials if r.state == "COMPLETE")
    assert s.best == pytest.approx(best)
    # Trials last 2, 4 or 8 minutes (the failure 3); compute adds them all up.
    expected = sum(r.complete - r.start for r in snap.trials)
    assert s.compute_s == pytest.approx(expected)
    assert s.duration_s == pytest.approx(max(r.complete for r in snap.trials)
                                         - min(r.start for r in snap.trials))
    assert s.model == "roberta-base" and s.data == "glue/sst2"


def test_running_and_empty_states(store):
    import time

    live = results.summarize(store.snapshot("bert-sst2"), time.time())
    assert live.state == "running" and "1 trial running" in live.state_note
    # Long after its driver's last heartbeat, the same trial belongs to a dead driver.
    dead = results.summarize(store.snapshot("bert-sst2"), NOW)
    assert dead.state == "crashed" and "no heartbeat for" in dead.state_note
    empty = results.summarize(store.snapshot("empty"), NOW)
    assert empty.state == "empty" and empty.best is None and empty.compute_s == 0


def test_trial_table_rows(store):
    t = _extract.trial_table(store.snapshot("bert-sst2"), NOW)
    assert t.columns[:7] == ("number", "state", "value", "step", "duration_s", "worker",
                             "dropout")
    assert len(t.rows) == 24
    row5 = t.rows[5]
    assert row5[1] == "FAIL" and row5[3] == 3 and row5[-1] == "failed: CUDA out of memory"
    row1 = t.rows[1]
    assert row1[1] == "PRUNED" and row1[2] is None and row1[5] == "node1:101"
    assert row1[-1].startswith("stopped by asha at step 2 (score ")
    assert row1[4] == pytest.approx(120.0)


def test_history_best_so_far_is_monotone(store):
    h = _extract.history(store.snapshot("bert-sst2"))
    assert h.direction == "maximize" and len(h.values) == 8
    assert all(b2 >= b1 for b1, b2 in zip(h.best_by_number, h.best_by_number[1:]))
    assert h.best_by_number[-1] == max(h.values) == h.best_by_time[-1]
    assert list(h.times) == sorted(h.times)


def test_curves_objective_and_other_metrics(store):
    snap = store.snapshot("bert-sst2", metrics=True)
    assert _extract.metric_names(snap) == ["objective", "accuracy", "eval_loss", "time_total_s",
                                           "train_loss"]
    c = _extract.curves(snap, "eval_loss")
    assert len(c.curves) == 24
    by_num = {cv.number: cv for cv in c.curves}
    rec = snap.trials[1]
    assert by_num[1].steps == (1, 2)
    assert by_num[1].values[-1] == rec.user_attrs[attrs.metrics_key(2)]["eval_loss"]
    assert "asha" in by_num[1].note
    obj = _extract.curves(snap)
    assert obj.curves[0].values == tuple(v for _, v in sorted(rec_iv(snap, 0)))
    with pytest.raises(KeyError, match="'nope'"):
        _extract.curves(snap, "nope")


def test_metric_names_from_the_study_attribute_without_histories(store):
    snap = store.snapshot("roberta-sst2")
    assert not snap.has_metrics and not _extract.needs_metric_scan(snap)
    assert _extract.metric_names(snap) == ["objective", "accuracy", "eval_loss", "time_total_s",
                                           "train_loss"]
    assert _extract.curves(snap).curves  # the objective's curves need no histories
    with pytest.raises(ValueError, match="metrics=True"):
        _extract.curves(snap, "eval_loss")
    assert _extract.needs_metric_scan(store.snapshot("bert-sst2"))  # written without the names


def rec_iv(snap, number):
    return next(r for r in snap.trials if r.number == number).intermediate.items()


def test_stop_note_without_explanation():
    rec = TrialRecord(1, 0, "PRUNED", 0.0, 1.0)
    assert results.stop_note(rec) == "stopped early (no explanation recorded)"
    rec.user_attrs[attrs.STOP] = {"by": "budget", "reason": "time budget spent"}
    assert results.stop_note(rec) == "stopped by budget: time budget spent"
    assert results.stop_note(TrialRecord(2, 1, "COMPLETE", 0.0, 1.0)) == ""


@pytest.mark.parametrize("state, stop", [
    ("PRUNED", None), ("PRUNED", "not a dict"), ("COMPLETE", None), ("FAIL", None),
    ("PRUNED", {"by": "budget", "reason": "time budget spent"}),
    ("PRUNED", {"by": "asha", "rung": 2, "score": 0.61, "cutoff": 0.63,
                "reason": "at step 2 its accuracy 0.61 was below the cutoff 0.63"}),
    ("PRUNED", {"by": "asha", "rung": 4, "score": 0.5, "cutoff": 0.7}),
    ("PRUNED", {"by": "median", "rung": 3, "reason": "worse than the median"}),
    ("PRUNED", {"by": "my (custom): rule", "rung": 1}),
    ("COMPLETE", {"by": "asha", "rung": 8, "reason": "reached max_t"}),
])
def test_stop_head_is_the_start_of_the_note(state, stop):
    # The figures' stop summaries count heads; the head must be what the note starts with.
    rec = TrialRecord(1, 0, state, 0.0, 1.0)
    if stop is not None:
        rec.user_attrs[attrs.STOP] = stop
    note = results.stop_note(rec)
    assert results.stop_head(rec) == note.split(" (", 1)[0].split(": ", 1)[0]


def test_stop_note_of_a_failure_is_the_error_line_of_its_traceback():
    rec = TrialRecord(1, 0, "FAIL", 0.0, 1.0)
    assert results.stop_note(rec) == "failed: no reason recorded"
    rec.user_attrs[attrs.FAIL_REASON] = ("Traceback (most recent call last):\n"
                                         '  File "t.py", line 1, in fit\n'
                                         "RuntimeError: CUDA out of memory\n\n")
    assert results.stop_note(rec) == "failed: RuntimeError: CUDA out of memory"


def test_summary_as_dict_keeps_the_flat_counts(store):
    d = results.summarize(store.snapshot("bert-sst2"), NOW).as_dict()
    assert d["counts"]["PRUNED"] == d["pruned"] == 14 and d["direction"] == "maximize"
    assert (d["complete"], d["failed"], d["running"], d["waiting"]) == (8, 1, 1, 0)
    assert [s.name for s in results.summaries(store, NOW)] == store.study_names()


def test_leaderboard_ranks_complete_trials_best_first(store):
    snap = store.snapshot("bert-sst2")
    rows = results.leaderboard(snap, NOW)
    ranked = [r for r in rows if r.rank is not None]
    assert [r.rank for r in ranked] == list(range(1, 9)) and rows[:8] == ranked
    assert [r.value for r in ranked] == sorted((r.value for r in ranked), reverse=True)
    assert ranked[0].number == results.best_trial(snap).number
    assert ranked[0].value == results.summarize(snap, NOW).best
    assert [r.state for r in rows[8:]] == ["PRUNED"] * 14 + ["RUNNING", "FAIL"]
    assert all(r.note == results.stop_note(next(t for t in snap.trials
                                                 if t.number == r.number)) for r in rows)
    multi = results.leaderboard(store.snapshot("multi-obj"), NOW)
    assert all(r.rank is None and r.value is None and len(r.values) == 2 for r in multi)
    assert results.best_trial(store.snapshot("multi-obj")) is None


def test_param_data_categorical_and_log(store):
    d = _extract.param_data(store.snapshot("bert-sst2"))
    axes = {a.name: a for a in d.axes}
    assert axes["optimizer"].choices == ("adamw", "sgd")
    assert set(axes["optimizer"].values) <= {0, 1}
    assert axes["learning_rate"].log and axes["dropout"].choices is None
    assert len(d.numbers) == len(d.objective) == 8


def test_contour_cells_hold_means(store):
    d = _extract.param_data(store.snapshot("bert-sst2"))
    c = _analysis.contour(d, "learning_rate", "optimizer", bins=4)
    assert len(c.x_centers) == 4 and len(c.y_centers) == 2
    cells = [v for row in c.z for v in row if v is not None]
    assert min(d.objective) <= min(cells) and max(cells) <= max(d.objective)
    assert len(c.points_value) == 8
    with pytest.raises(KeyError, match="'momentum'"):
        _analysis.contour(d, "momentum", "dropout")


def test_importance_by_optuna_evaluator(store):
    imp = _analysis.importance(store.snapshot("bert-sst2"))
    assert imp.evaluator == "ped-anova" and imp.n_trials == 8
    assert {p for p, _ in imp.importances} == {"learning_rate", "dropout", "optimizer"}
    assert sum(v for _, v in imp.importances) == pytest.approx(1.0)
    assert _analysis.importance(store.snapshot("empty")).importances == ()
    with pytest.raises(ValueError, match="'shap'"):
        _analysis.importance(store.snapshot("bert-sst2"), "shap")


def test_pareto_front_is_non_dominated(store):
    p = _analysis.pareto(store.snapshot("multi-obj"))
    assert p is not None and p.names == ("accuracy", "latency_ms")
    pts = list(zip(p.a, p.b))
    for (a, b), front in zip(pts, p.on_front):
        dominated = any(a2 >= a and b2 <= b and (a2, b2) != (a, b) for a2, b2 in pts)
        assert front == (not dominated)
    assert _analysis.pareto(store.snapshot("bert-sst2")) is None


def test_timeline_lanes_and_concurrency(store):
    t = _timeline.timeline(store.snapshot("bert-sst2"), NOW)
    assert t.lanes == ("node0:100", "node0:102", "node1:101", "node1:103")
    assert not t.packed and len(t.bars) == 24
    assert max(t.concurrency_n) == 4 and t.concurrency_n[-1] == 0
    fail = next(b for b in t.bars if b.state == "FAIL")
    assert fail.note.startswith("failed") and fail.end - fail.start == pytest.approx(180)


def test_timeline_packs_many_workers(store, monkeypatch):
    monkeypatch.setattr(_timeline, "MAX_WORKER_ROWS", 2)
    t = _timeline.timeline(store.snapshot("bert-sst2"), NOW)
    assert t.packed and all(lane.startswith(("node0 #", "node1 #")) for lane in t.lanes)
    for lane in t.lanes:  # packed lanes never overlap
        spans = sorted((b.start, b.end) for b in t.bars if b.lane == lane)
        assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(spans))


def test_compute_at_matches_brute_force(store):
    snap = store.snapshot("roberta-sst2")
    times = [r.complete for r in snap.trials] + [snap.trials[0].start - 1]
    got = _timeline.compute_at(snap, times, NOW)
    for t, c in zip(times, got):
        brute = sum(max(0.0, min(r.complete, t) - r.start) for r in snap.trials)
        assert c == pytest.approx(brute)


def test_progress_and_best_configs(store):
    snaps = [store.snapshot("bert-sst2"), store.snapshot("roberta-sst2")]
    p = _compare.progress(snaps[1], NOW)
    assert p.elapsed_s[0] >= 0 and list(p.compute_s) == sorted(p.compute_s)
    assert list(p.trials) == sorted(p.trials) and p.trials[-1] <= len(snaps[1].trials)
    assert p.best[-1] == pytest.approx(results.summarize(snaps[1]).best)
    bc = _compare.best_configs(snaps)
    rows = {r.label: r for r in bc.rows}
    assert rows["model"].differs and not rows["metric"].differs and not rows["data"].differs
    assert rows["learning_rate"].kind == "param"
    assert math.isclose(rows["best value"].values[1], p.best[-1])


def test_param_names_are_param_datas_axes(store):
    for name in ("bert-sst2", "multi-obj", "empty"):
        snap = store.snapshot(name)
        assert _extract.param_names(snap) == [a.name for a in _extract.param_data(snap).axes]
