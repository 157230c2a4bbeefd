"""Several ``hpo run`` processes on one study, killed drivers and signals: real processes."""

from __future__ import annotations

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

from hpo.storage import attrs
from tests.conftest import ROOT

SPACE = """\
trainable: synthetic
objective: {{metric: score, direction: maximize}}
sampler: {{name: {sampler}}}
scheduler: fifo
budget: {{trials: {trials}, max_steps: {steps}}}
concurrency: 1
params:
  x: {{type: float, low: 0.0, high: 1.0}}
  y: {{type: float, low: 0.0, high: 1.0}}
  steps: {steps}
  sleep: {sleep}
"""


def _space(tmp_path: Path, trials: int, steps: int = 2, sleep: float = 0.1,
           sampler: str = "random") -> Path:
    path = tmp_path / f"space-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(SPACE.format(trials=trials, steps=steps, sleep=sleep, sampler=sampler))
    return path


class Drivers:
    """Driver processes started by a test, each in its own session; all are killed
    (with their Ray processes) at the end, whatever happened."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, space: Path, study: str, url: str, *extra: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "hpo", "run", str(space), "--study", study,
               "--storage", url, "--quiet", "--no-test-score", *extra]
        proc = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


@pytest.fixture
def drivers() -> Iterator[Drivers]:
    d = Drivers()
    yield d
    d.kill_all()


def _wait(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def _trials(study: str, url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def _until(check: object, timeout: float, what: str) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if check():  # type: ignore[operator]
            return time.time() - t0
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _study_name() -> str:
    return f"drivers-{uuid.uuid4().hex[:8]}"


@pytest.mark.postgres
@pytest.mark.parametrize("n_drivers", [2, 4])
def test_drivers_share_one_postgres_study_exactly(
        tmp_path: Path, postgres_url: str, drivers: Drivers, n_drivers: int) -> None:
    space, study = _space(tmp_path, trials=20), _study_name()
    procs = [drivers.start(space, study, postgres_url) for _ in range(n_drivers)]
    results = [_wait(p) for p in procs]
    for rc, out in results:
        assert rc == 0, out
    trials = _trials(study, postgres_url)
    assert len(trials) == 20
    assert sorted(t.number for t in trials) == list(range(20))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert not any(t.user_attrs.get(attrs.ORPHANED) for t in trials)
    assert len({t.user_attrs[attrs.DRIVER] for t in trials}) >= 2  # they really shared it
    runs = optuna.load_study(study_name=study, storage=postgres_url).user_attrs[attrs.RUNS]
    assert len({r["seed"] for r in runs}) == n_drivers


def test_two_drivers_on_sqlite(tmp_path: Path, drivers: Drivers) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    space, study = _space(tmp_path, trials=10), _study_name()
    first = drivers.start(space, study, url)
    _until(lambda: (tmp_path / "shared.db").exists(), 60, "the store")
    second = drivers.start(space, study, url)
    for rc, out in (_wait(first), _wait(second)):
        assert rc == 0, out
    trials = _trials(study, url)
    assert sorted(t.number for t in trials) == list(range(10))
    assert all(t.state == TrialState.COMPLETE for t in trials)


@pytest.mark.postgres
def test_killed_driver_trials_fail_within_the_heartbeat_bound_and_others_go_on(
        tmp_path: Path, postgres_url: str, drivers: Drivers) -> None:
    bound = 4.0
    space, study = _space(tmp_path, trials=8, steps=4, sleep=1.0), _study_name()
    victim = drivers.start(space, study, postgres_url, "--stale-after", str(bound))
    mark = f":{victim.pid}:"

    def victim_running() -> list[optuna.trial.FrozenTrial]:
        try:
            trials = _trials(study, postgres_url)
        except KeyError:
            return []
        return [t for t in trials if t.state == TrialState.RUNNING
                and mark in str(t.user_attrs.get(attrs.DRIVER, ""))
                and attrs.HEARTBEAT in t.user_attrs]

    _until(victim_running, 120, "the first driver's trial to run")
    survivor = drivers.start(space, study, postgres_url, "--stale-after", str(bound))

    def survivor_running() -> bool:
        mine = f":{survivor.pid}:"
        return bool(victim_running()) and any(
            t.state == TrialState.RUNNING and mine in str(t.user_attrs.get(attrs.DRIVER, ""))
            for t in _trials(study, postgres_url))

    # Killed once the survivor runs a trial (its heartbeat thread is up), so what is timed
    # is the heartbeat bound, not how long a second driver and its Ray take to start.
    _until(survivor_running, 120, "the second driver to run a trial")
    os.kill(victim.pid, signal.SIGKILL)  # the driver alone, as a crash would
    killed_at = time.time()
    lost = {t.number for t in victim_running()}
    assert lost

    def lost_failed() -> bool:
        by_number = {t.number: t for t in _trials(study, postgres_url)}
        return all(by_number[n].state == TrialState.FAIL for n in lost)

    _until(lost_failed, 60, "the killed driver's trials to be failed")
    detected = time.time() - killed_at
    # Its last beat was at most one interval (bound / 4) before the kill.
    print(f"killed driver's trials failed {detected:.1f} s after the kill (bound {bound:g} s)")
    assert detected <= bound + bound / 4 + 5.0, detected
    rc, out = _wait(survivor)
    assert rc == 0, out
    trials = _trials(study, postgres_url)
    by_number = {t.number: t for t in trials}
    for n in lost:
        assert by_number[n].user_attrs[attrs.ORPHANED] is True
        assert "no heartbeat from its driver" in by_number[n].user_attrs[attrs.FAIL_REASON]
    survivor_mark = f":{survivor.pid}:"
    theirs = [t for t in trials if survivor_mark in str(t.user_attrs.get(attrs.DRIVER))]
    assert theirs and all(t.state == TrialState.COMPLETE for t in theirs)
    counted = [t for t in trials if not t.user_attrs.get(attrs.ORPHANED)]
    assert len(counted) == 8 and all(t.state.is_finished() for t in trials)


@pytest.mark.parametrize(("sig", "code", "group"), [
    (signal.SIGINT, 130, False), (signal.SIGTERM, 143, False), (signal.SIGTERM, 143, True),
])
def test_signals_close_every_trial_and_exit_with_the_signal_code(
        tmp_path: Path, drivers: Drivers, sig: int, code: int, group: bool) -> None:
    url = f"sqlite:///{tmp_path / 'sig.db'}"
    space, study = _space(tmp_path, trials=6, steps=4, sleep=1.0), _study_name()
    proc = drivers.start(space, study, url)

    def running() -> bool:
        try:
            return any(t.state == TrialState.RUNNING for t in _trials(study, url))
        except KeyError:
            return False

    _until(running, 120, "a trial to run")
    time.sleep(1.0)
    if group:  # as a container stop or `timeout` sends it: Ray's processes get it too
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    rc, out = _wait(proc, timeout=60)
    assert rc == code, out
    assert "restore" not in out.lower() and "Traceback" not in out
    trials = _trials(study, url)
    assert trials and all(t.state.is_finished() for t in trials)
    stopped = [t for t in trials if t.state == TrialState.PRUNED]
    assert stopped and all(
        "interrupted by" in t.user_attrs[attrs.STOP]["reason"] for t in stopped)
