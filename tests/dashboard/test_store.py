"""The store reader: incremental refresh, errors, and correctness while a search writes."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hpo.dashboard import _extract
from hpo.dashboard._store import Store, StoreError
from hpo.storage import attrs


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def test_missing_file_and_not_optuna(tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        Store(f"sqlite:///{tmp_path}/absent.db")
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("create table x (a int)").connection.close()
    with pytest.raises(StoreError, match="not an Optuna storage"):
        Store(f"sqlite:///{tmp_path}/other.db")


def test_missing_study(store):
    with pytest.raises(StoreError, match="no study named 'nope'"):
        store.snapshot("nope")


def test_snapshot_matches_optuna(store, store_url):
    optuna = _optuna()
    ours = {r.number: r for r in store.snapshot("bert-sst2", metrics=True).trials}
    theirs = optuna.load_study(study_name="bert-sst2", storage=store_url).trials
    assert len(ours) == len(theirs)
    for t in theirs:
        r = ours[t.number]
        assert r.state == t.state.name and r.params == t.params
        assert r.intermediate == t.intermediate_values and r.user_attrs == t.user_attrs
        assert (list(r.values) if r.values else None) == t.values


def test_metric_histories_are_read_only_when_asked_for_then_kept(tmp_path):
    optuna = _optuna()
    url = f"sqlite:///{tmp_path}/lazy.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    first = study.ask()
    study._storage.set_trial_user_attr(first._trial_id, attrs.metrics_key(1), {"acc": 0.5})
    study._storage.set_trial_user_attr(first._trial_id, attrs.WORKER, "h:1")
    st = Store(url)
    lean = st.snapshot("s")
    assert not lean.has_metrics and lean.trials[0].user_attrs == {attrs.WORKER: "h:1"}
    full = st.snapshot("s", metrics=True)
    assert full.has_metrics and full.revision == lean.revision
    assert full.trials[0].user_attrs == {attrs.WORKER: "h:1", attrs.metrics_key(1): {"acc": 0.5}}
    assert lean.trials[0].user_attrs == {attrs.WORKER: "h:1"}  # handed-out snapshots unchanged
    second = study.ask()  # written after the histories were loaded: read with them
    study._storage.set_trial_user_attr(second._trial_id, attrs.metrics_key(1), {"acc": 0.6})
    later = st.snapshot("s")
    assert later.has_metrics and later.revision > full.revision
    assert later.trials[1].user_attrs == {attrs.metrics_key(1): {"acc": 0.6}}
    st.close()


def test_refresh_reads_only_changes_and_bumps_revision(tmp_path):
    optuna = _optuna()
    url = f"sqlite:///{tmp_path}/live.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    st = Store(url)
    assert st.snapshot("s").trials == ()
    rev0 = st.snapshot("s").revision
    trial = study.ask()
    trial.report(0.5, 1)
    study._storage.set_trial_user_attr(trial._trial_id, attrs.metrics_key(1), {"acc": 0.5})
    snap = st.snapshot("s")
    assert snap.revision > rev0 and snap.trials[0].state == "RUNNING"
    assert snap.trials[0].intermediate == {1: 0.5}
    assert st.snapshot("s").revision == snap.revision  # nothing changed
    trial.report(0.7, 2)
    study.tell(trial, 0.7)
    snap2 = st.snapshot("s")
    assert snap2.revision > snap.revision
    assert snap2.trials[0].state == "COMPLETE" and snap2.trials[0].values == (0.7,)
    assert snap2.trials[0].intermediate == {1: 0.5, 2: 0.7}
    st.close()


def test_reads_stay_consistent_while_a_search_writes(tmp_path):
    """A writer thread runs an Optuna search; readers never fail and never go backwards."""
    optuna = _optuna()
    url = f"sqlite:///{tmp_path}/busy.db"
    optuna.create_study(study_name="busy", storage=url, direction="minimize")
    done = threading.Event()

    def search():
        study = optuna.load_study(study_name="busy", storage=url)

        def objective(trial):
            x = trial.suggest_float("x", -1, 1)
            for step in range(1, 4):
                trial.report(x * x + 1 / step, step)
                trial.set_user_attr(attrs.metrics_key(step), {"loss": x * x + 1 / step})
            return x * x

        study.optimize(objective, n_trials=25)
        done.set()

    writer = threading.Thread(target=search)
    writer.start()
    st = Store(url)
    seen, last_complete = 0, 0
    deadline = time.time() + 60
    while not done.is_set() and time.time() < deadline:
        snap = st.snapshot("busy")
        n_complete = sum(r.state == "COMPLETE" for r in snap.trials)
        assert len(snap.trials) >= seen and n_complete >= last_complete
        for r in snap.trials:
            if r.state == "COMPLETE":  # a finished trial is always whole
                assert len(r.intermediate) == 3 and r.values is not None and "x" in r.params
        _extract.summarize(snap)
        _extract.curves(snap, "objective")
        seen, last_complete = len(snap.trials), n_complete
        time.sleep(0.01)
    writer.join()
    final = st.snapshot("busy")
    assert sum(r.state == "COMPLETE" for r in final.trials) == 25
    st.close()


PG = os.environ.get("HPO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.mark.postgres
def test_postgres_store_reads_the_same(tmp_path):
    optuna = _optuna()
    try:
        import sqlalchemy as sa

        sa.create_engine(PG).connect().close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"PostgreSQL at {PG} unavailable: {exc}")
    from tests.dashboard.conftest import add_hpo_study

    name = f"dash-pg-{os.getpid()}-{int(time.time())}"
    add_hpo_study(PG, name, n=9, seed=4)
    try:
        st = Store(PG)
        snap = st.snapshot(name)
        theirs = optuna.load_study(study_name=name, storage=PG).trials
        assert [r.number for r in snap.trials] == [t.number for t in theirs]
        assert [r.user_attrs for r in snap.trials] == [
            {k: v for k, v in t.user_attrs.items() if not k.startswith(attrs.METRICS_PREFIX)}
            for t in theirs]
        full = st.snapshot(name, metrics=True)
        assert [r.user_attrs for r in full.trials] == [t.user_attrs for t in theirs]
        assert _extract.summarize(snap).counts["RUNNING"] == 1
        st.close()
    finally:
        optuna.delete_study(study_name=name, storage=PG)
