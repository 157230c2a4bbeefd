"""A study's state says why it ended, from what the store records; counts agree with it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hpo import results
from hpo.results import _state


def test_case_studies_say_why_they_ended(cases):
    got = {n: results.summarize(cases.snapshot(n)) for n in cases.study_names()}
    assert got["h17-queue"].state == "completed"
    assert "2 enqueued trials waiting" in got["h17-queue"].state_note
    assert got["h17-killed"].state == "crashed"
    assert "no heartbeat for" in got["h17-killed"].state_note
    assert got["h17-budget"].state == "time budget"
    assert got["h17-two"].state == "completed"


def test_waiting_is_counted_as_its_own_state(cases):
    s = results.summarize(cases.snapshot("h17-queue"))
    assert s.counts == {"COMPLETE": 6, "PRUNED": 4, "FAIL": 2, "RUNNING": 0, "WAITING": 2}
    assert sum(s.counts.values()) == s.n_trials == 14


def test_a_killed_driver_reads_running_until_its_bound_passes(cases):
    snap = cases.snapshot("h17-killed")
    beat = max(r.user_attrs["hpo:heartbeat"] for r in snap.trials if r.state == "RUNNING")
    assert results.summarize(snap, beat + 39).state == "running"
    assert results.summarize(snap, beat + 41).state == "crashed"
    # Its RUNNING trials ran until the last beat, not until now: compute stops there.
    later = results.summarize(snap, beat + 3600)
    assert later.compute_s == pytest.approx(results.summarize(snap, beat + 41).compute_s)


def test_orphans_last_until_their_last_heartbeat(cases):
    snap = cases.snapshot("h17-queue")
    orphans = [r for r in snap.trials if r.user_attrs.get("hpo:orphaned")]
    assert len(orphans) == 2
    for r in orphans:
        assert r.complete - r.start > 1500  # marked failed 25 minutes later
        assert results.duration(r, time.time()) == pytest.approx(30.0)


def test_a_run_without_an_end_and_nothing_running_crashed(cases):
    from dataclasses import replace

    snap = cases.snapshot("h17-budget")
    runs = [{k: v for k, v in snap.meta.user_attrs["hpo:runs"][0].items()
             if k not in ("end", "note", "ended")}]
    meta = replace(snap.meta, user_attrs={**snap.meta.user_attrs, "hpo:runs": runs})
    state = _state.study_state(replace(snap, meta=meta), time.time())
    assert state.state == "crashed" and "never recorded its end" in state.note
    # No run records at all (not written by hpo): ended, reason unknown.
    bare = replace(snap.meta, user_attrs={})
    assert _state.study_state(replace(snap, meta=bare), time.time()).state == "ended"


def test_stop_notes_say_each_fact_once(cases):
    snap = cases.snapshot("h17-queue")
    note = next(results.stop_note(r) for r in snap.trials if r.state == "PRUNED")
    assert note.startswith("stopped by asha: at step 2 its accuracy")
    assert note.count("at step 2") == 1 and note.count("cutoff") == 1


@pytest.mark.usefixtures("ray_cluster")
def test_runs_record_how_they_ended(synthetic_space: Callable[..., Path], tmp_path: Path):
    import optuna

    from hpo.execution import run_search
    from hpo.spaces import load_space
    from hpo.storage import attrs

    url = f"sqlite:///{tmp_path / 'ends.db'}"
    path = synthetic_space(name="h17-ends", trials=2, sampler="random", scheduler="fifo",
                           steps=10, sleep=0.05)
    run_search(load_space(path), storage=url, progress=False, score_test=False)
    # A second run with a time budget its trials cannot finish in.
    run_search(load_space(path), storage=url, progress=False, score_test=False, trials=40,
               time_budget=1.5)
    runs = optuna.load_study(study_name="h17-ends", storage=url).user_attrs[attrs.RUNS]
    assert [r["end"] for r in runs] == ["completed", "time_budget"]
    assert runs[0]["note"] == "trial budget of 2 trials used"
    assert all(r["ended"] >= r["started"] for r in runs)
    from hpo.results import Store

    store = Store(url)
    try:
        s = results.summarize(store.snapshot("h17-ends"))
    finally:
        store.close()
    assert s.state == "time budget" and "time budget of 1.5 s reached" in s.state_note


def test_a_dead_drivers_running_trials_say_so_in_the_table(cases):
    from hpo.dashboard import _extract

    snap = cases.snapshot("h17-killed")
    table = _extract.trial_table(snap, time.time())
    notes = [row[-1] for row in table.rows if row[1] == "RUNNING"]
    assert len(notes) == 2 and all("no heartbeat for" in n and "orphan" in n for n in notes)
    # While the driver beats within its bound, nothing is said.
    beat = max(r.user_attrs["hpo:heartbeat"] for r in snap.trials if r.state == "RUNNING")
    assert all(_state.silent_note(r, beat + 10) == "" for r in snap.trials)
