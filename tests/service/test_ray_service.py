"""The service end to end: ``hpo serve`` in a subprocess, its own Ray instance, real Ray
jobs running the synthetic trainable; submit, watch, page the trials, cancel, restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import call, space_text

HPO = [sys.executable, "-m", "hpo"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Server:
    """``hpo serve`` started by a test; :meth:`kill` is a SIGKILL of it and its processes."""

    def __init__(self, cwd: Path, storage: str, *extra: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.storage = storage
        # Beside the working directory, not in it: the server ships that to every job.
        self.log = open(cwd.parent / f"{cwd.name}-serve-{self.port}.log", "w")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        env.pop("RAY_ADDRESS", None)
        # Started with SIGINT ignored, as a shell without job control starts `cmd &`:
        # the server must still take :meth:`stop`'s SIGINT as a clean stop
        # (the restart test fails otherwise: the second server runs its search to the end).
        self.proc = subprocess.Popen(
            [*HPO, "serve", "--port", str(self.port), "--storage", storage, "--num-cpus", "2",
             *extra], cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=_ignore_sigint)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"hpo serve exited {self.proc.returncode}: "
                                     f"{Path(self.log.name).read_text()}")
            try:
                if call(self.base, "GET", "/api/v1/searches")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"hpo serve did not answer: {Path(self.log.name).read_text()}")

    def kill(self) -> None:
        mine = _descendants(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        deadline = time.monotonic() + 30  # Ray's processes share the server's fate
        while time.monotonic() < deadline and any(_alive(p) for p in mine):
            time.sleep(0.5)
        for pid in mine:  # whatever outlived it (started by this test), by pid
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log.close()


def wait_for(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def _search(base: str, job_id: str) -> dict[str, Any]:
    code, body = call(base, "GET", f"/api/v1/searches/{job_id}")
    assert code == 200, body
    return dict(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("svc-ray") / "work"
    cwd.mkdir()
    srv = Server(cwd, f"sqlite:///{cwd / 'store.db'}", "--max-running", "2")
    yield srv
    srv.stop()


def test_submit_runs_as_a_ray_job_and_reports(server: Server) -> None:
    from hpo.results import Store

    text = space_text("svc-ray-run", trials=3, steps=3, sleep=0.05)
    code, job = call(server.base, "POST", "/api/v1/searches",
                     {"space": text, "test_score": False})
    assert code == 201, job
    done = wait_for(lambda: (s := _search(server.base, job["id"]))["state"] not in
                    ("queued", "running") and s, 240, "the search to end")
    assert done["state"] == "succeeded", done
    assert done["ray_job"] == f"hpo-{job['id']}-1"
    progress = done["progress"]
    assert progress["counts"]["COMPLETE"] == 3 and progress["n_trials"] == 3
    assert progress["best"] is not None and progress["elapsed_s"] > 0

    code, page = call(server.base, "GET", f"/api/v1/searches/{job['id']}/trials?limit=2")
    assert code == 200 and page["total"] == 3 and [t["number"] for t in page["trials"]] == [0, 1]
    assert all(sorted(t["intermediate"]) == ["1", "2", "3"] for t in page["trials"])
    code, rest = call(server.base, "GET", f"/api/v1/searches/{job['id']}/trials?offset=2")
    assert [t["number"] for t in rest["trials"]] == [2]
    code, best = call(server.base, "GET", f"/api/v1/searches/{job['id']}/best")
    assert code == 200 and "'x'" in str(best) and "'y'" in str(best), best
    code, bundle = call(server.base, "GET", f"/api/v1/searches/{job['id']}/export")
    assert code == 200 and bundle["format"] == "hpo-bundle/1", bundle
    assert bundle["provenance"]["study"] == "svc-ray-run"
    assert bundle["provenance"]["trial"] == progress["best_trial"]

    # Same code path as `hpo run`: the study carries the submitted space and its fingerprint.
    store = Store(server.storage)
    attrs = store.meta("svc-ray-run").user_attrs
    store.close()
    assert attrs["hpo:space_text"] == text
    assert attrs["hpo:fingerprint"] == job["request"]["fingerprint"]

    # The search is a Ray job: `ray job status` and `ray job logs` show it.
    log = Path(server.log.name).read_text()
    dashboard = log.split("Ray jobs at ", 1)[1].split(")", 1)[0]
    ray_cli = [str(Path(sys.executable).with_name("ray")), "job"]
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # the server's local instance uses one
    out = subprocess.run([*ray_cli, "status", done["ray_job"], "--address", dashboard],
                         capture_output=True, text=True, timeout=60, env=env)
    assert f"'{done['ray_job']}' succeeded" in out.stdout + out.stderr, out
    out = subprocess.run([*ray_cli, "logs", done["ray_job"], "--address", dashboard],
                         capture_output=True, text=True, timeout=60, env=env)
    assert "study svc-ray-run: 3 trials run: 3 complete" in out.stdout, out

    out = subprocess.run([*HPO, "status", "svc-ray-run", "--server", server.base],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "succeeded" in out.stdout and "3 complete" in out.stdout


def test_cancel_stops_the_running_trials_with_the_reason(server: Server) -> None:
    text = space_text("svc-ray-cancel", trials=30, steps=6, sleep=0.5)
    code, job = call(server.base, "POST", "/api/v1/searches",
                     {"space": text, "test_score": False})
    assert code == 201
    wait_for(lambda: _search(server.base, job["id"])["progress"]["counts"].get("RUNNING"),
             240, "a running trial")
    code, cancelling = call(server.base, "DELETE", f"/api/v1/searches/{job['id']}")
    assert code == 202 and cancelling["state"] in ("cancelling", "cancelled")
    done = wait_for(lambda: (s := _search(server.base, job["id"]))["state"] == "cancelled"
                    and s, 120, "the cancel")
    assert done["progress"]["counts"].get("RUNNING", 0) == 0
    _, page = call(server.base, "GET", f"/api/v1/searches/{job['id']}/trials")
    pruned = [t for t in page["trials"] if t["state"] == "PRUNED"]
    assert pruned and all("cancelled" in t["note"] for t in pruned), page["trials"]
    assert page["total"] < 30
    code, _ = call(server.base, "POST", f"/api/v1/searches/{job['id']}/cancel")
    assert code == 409


@pytest.mark.slow
def test_restart_resumes_the_running_job_and_starts_the_queued_one(tmp_path: Path) -> None:
    """SIGKILL with a running and a queued search, restart, a clean stop mid-search,
    restart again: both searches end, the resumed study has exactly its budget."""
    storage = f"sqlite:///{tmp_path / 'store.db'}"
    (tmp_path / "work").mkdir()
    first = Server(tmp_path / "work", storage, "--max-running", "1")
    try:
        # 8 s trials: the clean stop below must find attempt 2 mid-search.
        long_text = space_text("svc-ray-a", trials=6, steps=4, sleep=2.0)
        _, a = call(first.base, "POST", "/api/v1/searches",
                    {"space": long_text, "test_score": False, "stale_after": 4})
        _, b = call(first.base, "POST", "/api/v1/searches",
                    {"space": space_text("svc-ray-b", trials=2), "test_score": False})
        wait_for(lambda: _search(first.base, a["id"])["progress"]["counts"].get("RUNNING"),
                 240, "a running trial of the first search")
        assert _search(first.base, b["id"])["state"] == "queued"
    finally:
        first.kill()
    second = Server(tmp_path / "work", storage, "--max-running", "1")
    try:
        resumed = _search(second.base, a["id"])
        assert resumed["attempt"] == 2 or resumed["state"] == "queued", resumed
        assert "server restarted" in (resumed["reason"] or ""), resumed
        # Attempt 2's own trial: until its driver fails the orphan of attempt 1 (FAIL),
        # the RUNNING count is that orphan and the driver may not have started yet.
        wait_for(lambda: (s := _search(second.base, a["id"]))["attempt"] == 2
                 and s["progress"]["counts"].get("FAIL")
                 and s["progress"]["counts"].get("RUNNING"), 240, "attempt 2 running")
    finally:
        second.stop()  # a clean stop (SIGINT): the running search is handed back
    from hpo.results import Store

    store = Store(storage)
    trials = store.snapshot("svc-ray-a").trials
    store.close()
    assert not [t.number for t in trials if t.state == "RUNNING"]
    third = Server(tmp_path / "work", storage, "--max-running", "1")
    try:
        handed = _search(third.base, a["id"])
        assert "the server stopped" in (handed["reason"] or ""), handed
        for job_id in (a["id"], b["id"]):
            done = wait_for(lambda j=job_id: (s := _search(third.base, j))["state"]
                            not in ("queued", "running") and s, 300, f"job {job_id}")
            assert done["state"] == "succeeded", done
        _, page = call(third.base, "GET", f"/api/v1/searches/{a['id']}/trials")
        numbers = [t["number"] for t in page["trials"]]
        assert numbers == list(range(len(numbers)))  # unique, gapless
        finished = [t for t in page["trials"] if t["state"] in ("COMPLETE", "PRUNED")]
        assert len(finished) == 6  # the killed trial is failed as orphaned, not counted
        assert all(t["state"] != "RUNNING" for t in page["trials"])
    finally:
        third.stop()
