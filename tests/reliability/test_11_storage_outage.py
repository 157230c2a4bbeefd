"""RELIABILITY 11: the store goes away mid-search. Workers retry and carry on, or stop
loudly; a finished result is never dropped silently.

- PostgreSQL: a cluster of the test's own (never the shared server) is stopped for
  32 s under a running ``hpo run``, which waits it out and ends normally with every
  trial stored; stopped for longer than the retry window, a driver stops with exit 5
  and its finished results in the recovery file, which the next open replays.
- SQLite: the disk under the database fills up mid-search; the driver waits until
  space is back and carries on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT
from tests.reliability._stores import PrivateCluster, private_cluster_possible, space_file

OUTAGE_S = 32.0


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    why = private_cluster_possible()
    if why is not None:
        pytest.skip(why)
    c = PrivateCluster()
    c.create()
    try:
        yield c
    finally:
        c.remove()


def _trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def _finished(url: str, study: str) -> int:
    try:
        return sum(1 for t in _trials(url, study) if t.state.is_finished())
    except Exception:  # noqa: BLE001 - the study may not exist yet
        return 0


def _until(check: object, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **env},
                            start_new_session=True)


def _end(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.mark.postgres
@pytest.mark.slow
def test_hpo_run_waits_out_a_32_s_postgres_outage_and_stores_everything(
        tmp_path: Path, cluster: PrivateCluster) -> None:
    n = 10
    space = space_file(tmp_path, trials=n, steps=4, sleep=0.4)
    study = f"outage-{uuid.uuid4().hex[:6]}"
    env = {"HPO_RECOVERY_DIR": str(tmp_path / "recovery"), "HPO_STORE_RETRY_S": "120"}
    proc = _start([sys.executable, "-m", "hpo", "run", str(space), "--study", study,
                   "--storage", cluster.url, "--quiet", "--no-test-score"], env)
    try:
        _until(lambda: _finished(cluster.url, study) >= 3, 180, "3 finished trials")
        done_before = _finished(cluster.url, study)
        cluster.stop()
        stopped = time.time()
        time.sleep(OUTAGE_S)
        assert proc.poll() is None, "the driver died during the outage"
        cluster.start()
        print(f"PostgreSQL was down {time.time() - stopped:.1f} s with {done_before} of "
              f"{n} trials stored")
        _, err = _end(proc, 240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    trials = _trials(cluster.url, study)
    assert sorted(t.number for t in trials) == list(range(n))
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    # Every value is the trainable's own best report, so no result was lost or replaced.
    for t in trials:
        assert t.value == pytest.approx(max(t.intermediate_values.values()))
    assert "store error" in err  # the retries were said, not hidden
    assert not (tmp_path / "recovery").exists() or not any((tmp_path / "recovery").iterdir())


@pytest.mark.postgres
def test_outage_past_the_retry_window_stops_loudly_and_the_next_run_replays(
        tmp_path: Path, cluster: PrivateCluster) -> None:
    n = 8
    space = space_file(tmp_path, trials=n, steps=2)
    study = f"gone-{uuid.uuid4().hex[:6]}"
    recovery = tmp_path / "recovery"
    env = {"HPO_RECOVERY_DIR": str(recovery), "HPO_STORE_RETRY_S": "4"}
    proc = _start([sys.executable, "-m", "tests.reliability._writer", cluster.url, study,
                   str(space), str(n), "0.3"], env)
    try:
        _until(lambda: _finished(cluster.url, study) >= 2, 120, "2 finished trials")
        cluster.stop()
        out, err = _end(proc, 120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 5, err[-3000:]
    assert "search stopped" in err and "saved to" in err and str(recovery) in err
    finished = {r["number"]: r["value"] for r in map(json.loads, out.splitlines())}
    files = list(recovery.iterdir())
    assert len(files) == 1
    cluster.start()
    from hpo.storage._files import read_records

    kept = read_records(files[0]).records
    running = {t.number for t in _trials(cluster.url, study) if t.state == TrialState.RUNNING}
    # The results the store never got are in the file, and only there.
    assert kept and {r["number"] for r in kept} == running
    # The next open of the study (any run, any driver) replays the file first.
    os.environ["HPO_RECOVERY_DIR"] = str(recovery)
    try:
        from hpo.spaces import load_space
        from hpo.storage import open_study

        open_study(load_space(space), study, cluster.url)
    finally:
        del os.environ["HPO_RECOVERY_DIR"]
    trials = _trials(cluster.url, study)
    stored = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    print(f"{len(finished)} results finished, {len(stored)} stored after the replay")
    assert stored == finished  # every finished result, with its value; none invented
    assert not any(t.state == TrialState.RUNNING for t in trials)
    assert not files[0].exists()  # replayed, then removed


def test_sqlite_full_disk_waits_for_space_and_carries_on(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,huge=never", "tmpfs",
                           str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        url = f"sqlite:///{mount / 'hpo.db'}"
        n = 8
        space = space_file(tmp_path, trials=n, steps=2)
        study = "full-disk"
        env = {"HPO_RECOVERY_DIR": str(tmp_path / "recovery"), "HPO_STORE_RETRY_S": "60"}
        # The filler is created while the disk is empty: creating it later failed with ENOSPC
        # on one CI host. huge=never: where a host's shmem huge-page policy is "always", each
        # file takes 2 MiB and the store could fill the disk before the filler does.
        filler = mount / "filler"
        handle = open(filler, "wb")
        proc = _start([sys.executable, "-m", "tests.reliability._writer", url, study,
                       str(space), str(n), "0.3"], env)
        try:
            _until(lambda: _finished(url, study) >= 2, 120, "2 finished trials")
            with handle:  # fill the disk to the last byte
                try:
                    while True:
                        handle.write(b"\0" * 65536)
                        handle.flush()
                except OSError:
                    pass
            sizes = {p.name: p.stat().st_size for p in mount.iterdir()}
            full_at = _finished(url, study)
            time.sleep(4)
            assert proc.poll() is None, "the driver died on the full disk"
            filler.unlink()
            out, err = _end(proc, 120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 0, err[-3000:]
        assert "full" in err.lower()  # the wait was said
        trials = _trials(url, study)
        finished = {r["number"]: r["value"] for r in map(json.loads, out.splitlines())}
        print(f"disk full with {full_at} trials stored ({sizes}); {len(trials)} of {n} stored "
              "at the end")
        assert {t.number: t.value for t in trials} == finished
        assert sorted(finished) == list(range(n))
        assert all(t.state == TrialState.COMPLETE for t in trials)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.postgres
@pytest.mark.slow
def test_hpo_run_past_the_retry_window_exits_5_naming_the_recovery_file(
        tmp_path: Path, cluster: PrivateCluster) -> None:
    n = 10
    space = space_file(tmp_path, trials=n, steps=4, sleep=0.4)
    study = f"stop-{uuid.uuid4().hex[:6]}"
    recovery = tmp_path / "recovery"
    env = {"HPO_RECOVERY_DIR": str(recovery), "HPO_STORE_RETRY_S": "5"}
    proc = _start([sys.executable, "-m", "hpo", "run", str(space), "--study", study,
                   "--storage", cluster.url, "--quiet", "--no-test-score"], env)
    try:
        _until(lambda: _finished(cluster.url, study) >= 3, 180, "3 finished trials")
        cluster.stop()
        stopped = time.time()
        _, err = _end(proc, 240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    print(f"hpo run stopped {time.time() - stopped:.1f} s into the outage (window 5 s)")
    assert proc.returncode == 5, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("hpo run: search stopped: the store failed for")
    assert "Connection refused" in err or "connection" in last.lower()
    assert "Traceback" not in err
    cluster.start()
    before = {t.number for t in _trials(cluster.url, study) if t.state.is_finished()}
    os.environ["HPO_RECOVERY_DIR"] = str(recovery)
    try:
        from hpo.spaces import load_space
        from hpo.storage import open_study

        open_study(load_space(space), study, cluster.url)  # what the next run does first
    finally:
        del os.environ["HPO_RECOVERY_DIR"]
    trials = _trials(cluster.url, study)
    assert not any(t.state == TrialState.RUNNING for t in trials)
    replayed = {t.number for t in trials if t.state.is_finished()} - before
    if str(recovery) in last:  # results were still in memory when it stopped
        assert replayed
