"""``hpo doctor``: what a driver killed with SIGKILL left of its Ray instance is cleaned up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo.execution import _ray_instances

ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import sys, tempfile, time
from hpo.execution._ray_init import ensure_ray
temp = tempfile.mkdtemp(prefix="hpo-ray-")
ensure_ray(num_cpus=1, temp_dirs=[temp])
print("ready", flush=True)
time.sleep(600)
"""


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["HPO_STATE_DIR"] = str(state)
    return env


def _hpo(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("hpo")), *args], env=_env(state),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not _ray_instances.supported(), reason="needs Linux's /proc")
def test_doctor_stops_a_killed_drivers_ray_processes_and_removes_its_folders(
        tmp_path: Path) -> None:
    pytest.importorskip("ray")
    state = tmp_path / "state"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], env=_env(state), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True)
    try:
        assert driver.stdout is not None
        assert driver.stdout.readline().strip() == "ready"
        (path,) = (state / "ray-instances").glob("driver-*.json")
        record = json.loads(path.read_text())
        assert record["driver_pid"] == driver.pid
        session, (temp,) = record["session_dir"], record["temp_dirs"]
        assert Path(session).is_dir() and Path(temp).is_dir()
        # The instance's processes are found by their session folder.
        before = _ray_instances.session_pids(session)
        assert before
        # While the driver lives, nothing is touched.
        out = _hpo(state, "doctor")
        assert out.returncode == 0, out.stderr
        assert f"running: driver {driver.pid}" in out.stdout
        assert _ray_instances.session_pids(session) == before

        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        time.sleep(1)
        left = _ray_instances.session_pids(session)
        assert left, "expected Ray processes to outlive a driver killed with SIGKILL"

        out = _hpo(state, "doctor", "--dry-run")
        assert out.returncode == 0, out.stderr
        assert f"dead driver {driver.pid}" in out.stdout and "would stop" in out.stdout
        assert _ray_instances.session_pids(session) and Path(session).is_dir()

        out = _hpo(state, "doctor", "--grace", "1")
        assert out.returncode == 0, out.stderr
        assert f"dead driver {driver.pid}" in out.stdout
        assert f"removed {session}" in out.stdout and f"removed {temp}" in out.stdout
        assert _ray_instances.session_pids(session) == []
        assert not Path(session).exists() and not Path(temp).exists()
        assert not path.exists()
        assert "no Ray instances recorded" in _hpo(state, "doctor").stdout
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=10)


def test_a_record_with_a_reused_pid_counts_as_dead(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPO_STATE_DIR", str(tmp_path))
    path = _ray_instances.register_instance(temp_dirs=[str(tmp_path / "hpo-ray-x")])
    assert path is not None
    (live,) = _ray_instances.instances()
    assert live.alive and live.driver_pid == os.getpid()
    record = json.loads(path.read_text())
    record["driver_start"] -= 1  # same pid, another process
    path.write_text(json.dumps(record))
    (tmp_path / "hpo-ray-x").mkdir()
    (dead,) = _ray_instances.clean_dead_instances()
    assert not dead.alive and dead.pids == []
    assert not (tmp_path / "hpo-ray-x").exists() and not path.exists()
    _ray_instances.forget_instance()


def test_folders_that_are_not_rays_or_hpos_are_never_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPO_STATE_DIR", str(tmp_path / "state"))
    precious = tmp_path / "precious"
    precious.mkdir()
    folder = _ray_instances.state_dir()
    folder.mkdir(parents=True)
    (folder / "driver-1-0-0.json").write_text(json.dumps(
        {"driver_pid": 2 ** 22 + 1, "driver_start": 0, "session_dir": str(precious),
         "temp_dirs": [str(precious)]}))
    (dead,) = _ray_instances.clean_dead_instances()
    assert dead.dirs == []
    assert precious.is_dir()
