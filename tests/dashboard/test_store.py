"""The store reader: incremental refresh, errors, and correctness while a search writes."""

from __future__ import annotations

import logging
import math
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hpo import results
from hpo._compat import optuna as optuna_compat
from hpo.dashboard import _extract
from hpo.results import Store, StoreError, StoreNotFound, StudyNotFound, StudySnapshot
from hpo.storage import attrs
from tests.dashboard.conftest import add_hpo_study


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@pytest.fixture(params=["own-sql", "public-api"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the store's own SQL and on its fallback through Optuna's public API."""
    if request.param == "public-api":
        monkeypatch.setattr(optuna_compat, "rdb_fast_path_ok",
                            lambda storage: (False, "forced by the test"))
    return request.param


def _check_reader(st: Store, reader: str) -> None:
    assert (st.fallback_reason is None) == (reader == "own-sql")


def _fields(snap: StudySnapshot) -> list[tuple[Any, ...]]:
    """Everything of a snapshot's trials but ``trial_id`` (the public API has no ids)."""
    return [(r.number, r.state, r.start, r.complete, r.values, r.params, r.distributions,
             r.intermediate, r.user_attrs) for r in snap.trials]


def _same_snapshots(ours: Store, theirs: Store, name: str, metrics: bool,
                    now: float) -> tuple[StudySnapshot, StudySnapshot]:
    a, b = ours.snapshot(name, metrics=metrics), theirs.snapshot(name, metrics=metrics)
    assert a.meta == b.meta and _fields(a) == _fields(b), name
    assert a.has_metrics == b.has_metrics == metrics and a.revision == b.revision
    assert results.summarize(a, now) == results.summarize(b, now)
    assert results.leaderboard(a, now) == results.leaderboard(b, now)
    assert _extract.trial_table(a, now) == _extract.trial_table(b, now)
    assert _extract.curves(a, _extract.OBJECTIVE) == _extract.curves(b, _extract.OBJECTIVE)
    return a, b


def test_missing_file_and_not_optuna(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound, match="no such file"):
        Store(f"sqlite:///{tmp_path}/absent.db")
    assert not (tmp_path / "absent.db").exists()  # reading creates nothing
    sqlite3.connect(tmp_path / "blank.db").close()  # a database nothing was written to
    with pytest.raises(StoreNotFound, match="holds no tables"):
        Store(f"sqlite:///{tmp_path}/blank.db")
    sqlite3.connect(tmp_path / "other.db").execute("create table x (a int)").connection.close()
    with pytest.raises(StoreError, match="not an Optuna storage") as info:
        Store(f"sqlite:///{tmp_path}/other.db")
    assert not isinstance(info.value, StoreNotFound)


def test_default_url_is_hpo_storage(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPO_STORAGE", store_url)
    st = Store()
    assert st.url == store_url and "bert-sst2" in st.study_names()
    st.close()


def test_missing_study(store: Store) -> None:
    with pytest.raises(StudyNotFound, match="no study named 'nope'"):
        store.snapshot("nope")
    with pytest.raises(StudyNotFound, match="no study named 'nope'"):
        store.meta("nope")


def test_snapshot_matches_optuna(store: Store, store_url: str) -> None:
    optuna = _optuna()
    ours = {r.number: r for r in store.snapshot("bert-sst2", metrics=True).trials}
    theirs = optuna.load_study(study_name="bert-sst2", storage=store_url).trials
    assert len(ours) == len(theirs)
    for t in theirs:
        r = ours[t.number]
        assert r.state == t.state.name and r.params == t.params
        assert r.intermediate == t.intermediate_values and r.user_attrs == t.user_attrs
        assert (list(r.values) if r.values else None) == t.values


def test_metric_histories_are_read_only_when_asked_for_then_kept(tmp_path: Path,
                                                                 reader: str) -> None:
    optuna = _optuna()
    url = f"sqlite:///{tmp_path}/lazy.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    first = study.ask()
    study._storage.set_trial_user_attr(first._trial_id, attrs.metrics_key(1), {"acc": 0.5})
    study._storage.set_trial_user_attr(first._trial_id, attrs.WORKER, "h:1")
    st = Store(url)
    _check_reader(st, reader)
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


def test_refresh_reads_only_changes_and_bumps_revision(tmp_path: Path, reader: str) -> None:
    optuna = _optuna()
    url = f"sqlite:///{tmp_path}/live.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    st = Store(url)
    _check_reader(st, reader)
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


def test_reads_stay_consistent_while_a_search_writes(tmp_path: Path, reader: str) -> None:
    """A writer thread runs an Optuna search; readers never fail and never go backwards."""
    optuna = _optuna()
    url = f"sqlite:///{tmp_path}/busy.db"
    optuna.create_study(study_name="busy", storage=url, direction="minimize")
    done = threading.Event()

    def search() -> None:
        study = optuna.load_study(study_name="busy", storage=url)

        def objective(trial: Any) -> float:
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
    _check_reader(st, reader)
    seen, last_complete = 0, 0
    deadline = time.time() + 60
    while not done.is_set() and time.time() < deadline:
        snap = st.snapshot("busy")
        n_complete = sum(r.state == "COMPLETE" for r in snap.trials)
        assert len(snap.trials) >= seen and n_complete >= last_complete
        for r in snap.trials:
            if r.state == "COMPLETE":  # a finished trial is always whole
                assert len(r.intermediate) == 3 and r.values is not None and "x" in r.params
        results.summarize(snap)
        results.leaderboard(snap)
        _extract.curves(snap, "objective")
        seen, last_complete = len(snap.trials), n_complete
        time.sleep(0.01)
    writer.join()
    final = st.snapshot("busy")
    assert sum(r.state == "COMPLETE" for r in final.trials) == 25
    st.close()


def test_public_api_fallback_reads_the_same_as_our_sql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    optuna = _optuna()
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    url = f"sqlite:///{tmp_path}/both.db"
    add_hpo_study(url, "bert-a", n=9, seed=5)  # COMPLETE, PRUNED, a FAIL and one RUNNING
    add_hpo_study(url, "bert-b", n=6, seed=6, running=0, directions=("maximize", "minimize"))
    study = optuna.load_study(study_name="bert-a", storage=url)
    study.add_trial(create_trial(  # infinite values and intermediate values
        state=TrialState.COMPLETE, value=math.inf, params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)}, intermediate_values={1: -math.inf, 2: 1.0},
        user_attrs={attrs.WORKER: "n:1", attrs.metrics_key(1): {"loss": math.inf}}))
    ours = Store(url)
    assert ours.fallback_reason is None
    monkeypatch.setattr(optuna_compat, "rdb_fast_path_ok",
                        lambda storage: (False, "forced by the test"))
    with caplog.at_level(logging.WARNING, logger="hpo.results._store"):
        theirs = Store(url)
    assert theirs.fallback_reason == "forced by the test"
    assert [r.levelno for r in caplog.records if "forced by the test" in r.getMessage()] \
        == [logging.WARNING]
    assert theirs.study_names() == ours.study_names() == ["bert-a", "bert-b"]
    assert theirs.metas() == ours.metas() and theirs.meta("bert-b") == ours.meta("bert-b")
    now = time.time()
    for name in ("bert-a", "bert-b"):
        for metrics in (False, True):  # lean, then with the metric histories added
            a, _ = _same_snapshots(ours, theirs, name, metrics, now)
        assert any(attrs.metrics_key(1) in r.user_attrs for r in a.trials)
    assert [r.trial_id for r in theirs.snapshot("bert-a").trials] == list(range(10))
    before = theirs.snapshot("bert-a")  # unchanged: the same revision and records
    assert theirs.snapshot("bert-a").revision == before.revision
    assert theirs.snapshot("bert-a").trials is before.trials
    study.ask()
    _, after = _same_snapshots(ours, theirs, "bert-a", True, now)
    assert after.revision > before.revision and len(after.trials) == 11
    with pytest.raises(StudyNotFound, match="no study named 'nope'"):
        theirs.snapshot("nope")
    ours.close()
    theirs.close()


def test_store_of_another_schema_version_reads_through_optuna(
        store: Store, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = store_url.split(":///", 1)[1]
    dst = tmp_path / "other-schema.db"
    shutil.copy(src, dst)
    with sqlite3.connect(dst) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v0.0.0.fake'")
    conn.close()
    url = f"sqlite:///{dst}"
    with caplog.at_level(logging.WARNING, logger="hpo.results._store"):
        st = Store(url)
    assert st.fallback_reason and "v0.0.0.fake" in st.fallback_reason
    assert any("v0.0.0.fake" in r.getMessage() and "public API" in r.getMessage()
               for r in caplog.records)
    assert st.study_names() == store.study_names()
    assert st.metas() == store.metas()
    now = time.time()
    for name in store.study_names():
        _same_snapshots(store, st, name, True, now)
    st.close()


def test_a_schema_optuna_cannot_read_either_is_a_store_error(store_url: str,
                                                             tmp_path: Path) -> None:
    dst = tmp_path / "renamed.db"
    shutil.copy(store_url.split(":///", 1)[1], dst)
    with sqlite3.connect(dst) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v0.0.0.fake'")
        conn.execute("ALTER TABLE trial_values RENAME COLUMN value_type TO kind")
    conn.close()
    st = Store(f"sqlite:///{dst}")
    assert st.fallback_reason and "v0.0.0.fake" in st.fallback_reason
    assert st.meta("bert-sst2").name == "bert-sst2"  # the study tables still match
    with pytest.raises(StoreError, match=r"cannot be read through Optuna .*v0\.0\.0\.fake"):
        st.snapshot("bert-sst2")
    st.close()


PG = os.environ.get("HPO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.mark.postgres
def test_postgres_store_reads_the_same(tmp_path: Path) -> None:
    optuna = _optuna()
    try:
        import sqlalchemy as sa

        sa.create_engine(PG).connect().close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"PostgreSQL at {PG} unavailable: {exc}")
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
        assert results.summarize(snap).counts["RUNNING"] == 1
        st.close()
    finally:
        optuna.delete_study(study_name=name, storage=PG)


def test_the_collector_is_paused_while_a_refresh_builds_records(store_url, monkeypatch):
    import gc

    from hpo.results import _store

    seen: list[bool] = []
    real = _store.Store._refresh

    def spy(self, conn, cache):
        seen.append(gc.isenabled())
        return real(self, conn, cache)

    monkeypatch.setattr(_store.Store, "_refresh", spy)
    fresh = _store.Store(store_url)
    try:
        assert gc.isenabled()
        fresh.snapshot("bert-sst2")
        assert seen == [False] and gc.isenabled()  # paused during the read, then resumed
        gc.disable()
        try:
            with _store.collector_paused():
                with _store.collector_paused():  # nested: the outer one resumes
                    pass
                assert not gc.isenabled()
            assert not gc.isenabled()  # disabled before: stays disabled
        finally:
            gc.enable()
    finally:
        fresh.close()
