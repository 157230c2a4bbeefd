"""Store retries on simulated time, the writer's give-up with the recovery file, replay."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hpo.execution._store_writer import StoreWriter
from hpo.storage._files import read_records
from hpo.storage._recovery import end_record, recovery_path
from hpo.storage._retry import StoreUnavailable, is_transient, retry


@pytest.fixture(autouse=True)
def _no_trouble_left_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    # retry() notes each store error process-wide; other tests' liveness must not see them.
    from hpo.storage import _retry

    monkeypatch.setattr(_retry, "_last_trouble", None)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _operational(text: str) -> Exception:
    import sqlalchemy.exc

    return sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(text))


@pytest.mark.parametrize("exc, transient", [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("database or disk is full"), True),
    (sqlite3.OperationalError("near \"SELEC\": syntax error"), False),
    (ConnectionRefusedError(111, "refused"), True),
    (ValueError("a bug"), False),
    (KeyError("no such study"), False),
])
def test_what_counts_as_transient(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_wrapped_errors_are_judged_by_their_cause() -> None:
    import optuna

    wrapped = optuna.exceptions.StorageInternalError("commit failed")
    wrapped.__cause__ = _operational("server closed the connection unexpectedly")
    assert is_transient(wrapped)
    assert is_transient(_operational("could not connect to server"))


def test_retry_backs_off_until_the_store_is_back() -> None:
    t = FakeTime()
    calls = []

    def flaky() -> str:
        calls.append(t.now)
        if t.now < 31:  # a 31 s outage
            raise sqlite3.OperationalError("database is locked")
        return "stored"

    assert retry(flaky, "testing", window=60, sleep=t.sleep, clock=t.clock) == "stored"
    assert t.sleeps[:4] == [0.2, 0.4, 0.8, 1.6]  # exponential
    assert max(t.sleeps) == 5.0  # capped
    assert len(calls) < 20


def test_retry_gives_up_after_the_window_and_says_why() -> None:
    t = FakeTime()

    def down() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreUnavailable, match=r"failed for 30 s .*disk is full"):
        retry(down, "writing", window=30, sleep=t.sleep, clock=t.clock)
    assert t.now == pytest.approx(30)


def test_retry_raises_a_real_error_at_once() -> None:
    t = FakeTime()
    with pytest.raises(ValueError):
        retry(lambda: (_ for _ in ()).throw(ValueError("bug")), "x", window=30,
              sleep=t.sleep, clock=t.clock)
    assert t.sleeps == []


def test_writer_gives_up_keeping_every_end_state(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    writer = StoreWriter(path, window=0)
    done = []

    def down() -> None:
        raise sqlite3.OperationalError("database is locked")

    writer.submit(lambda: done.append(1))
    writer.submit(down, end_record("s", 1, "COMPLETE", 0.5, {"hpo:step": 3}))
    writer.submit(down, end_record("s", 2, "PRUNED", None, {}))
    with pytest.raises(StoreUnavailable, match=r"2 finished result\(s\) saved to"):
        writer.flush()
    with pytest.raises(StoreUnavailable):  # an intermediate write after that: refused
        writer.submit(lambda: None)
    writer.submit(lambda: None, end_record("s", 3, "PRUNED", None, {}))  # kept, no raise
    assert done == [1]
    records = read_records(path).records
    assert [(r["number"], r["state"], r["value"]) for r in records] == [
        (1, "COMPLETE", 0.5), (2, "PRUNED", None), (3, "PRUNED", None)]


def test_recovery_path_is_per_store_and_study_and_hides_passwords(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPO_RECOVERY_DIR", raising=False)
    db = f"sqlite:///{tmp_path / 'h.db'}"
    assert recovery_path(db, "a").parent == tmp_path / "h.db.recovery"
    assert recovery_path(db, "a") != recovery_path(db, "b")
    one = recovery_path("postgresql://u:secret@h/db", "a")
    assert "secret" not in str(one)
    assert one == recovery_path("postgresql://u:other@h/db", "a")  # same store


def test_no_trial_is_taken_for_dead_just_after_a_store_error(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import optuna

    from hpo.execution._liveness import repair_stale
    from hpo.storage import _retry, attrs, open_storage

    storage = open_storage(sqlite_url)
    study = optuna.create_study(study_name="quiet", storage=storage)
    trial = study.ask()
    trial.set_user_attr(attrs.HEARTBEAT, time.time() - 100)  # silent for 100 s
    trial.set_user_attr(attrs.STALE_AFTER, 10.0)
    study_id = storage.get_study_id_from_name("quiet")
    monkeypatch.setattr(_retry, "_last_trouble", time.monotonic() - 3)  # an outage just ended
    assert repair_stale(study, storage, study_id, set(), default_after=10.0) == []
    monkeypatch.setattr(_retry, "_last_trouble", time.monotonic() - 30)  # long ago
    assert repair_stale(study, storage, study_id, set(), default_after=10.0) == [trial.number]
