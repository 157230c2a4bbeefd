"""The queue lives in the store's database: a server restart finds every job, and the
dispatcher accounts for the ones a previous server left running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo.service._dispatcher import Dispatcher
from hpo.service._queue import JobQueue
from hpo.service._ray_jobs import RayJobState
from tests.service.conftest import call, space_text


class RecordingLauncher:
    """Starts nothing; remembers submissions. ``known`` are the jobs "the cluster" has."""

    def __init__(self, known: dict[str, RayJobState] | None = None) -> None:
        self.known = dict(known or {})
        self.submitted: list[str] = []
        self.stopped: list[str] = []

    def submit(self, job: Any, submission_id: str, storage: str) -> None:
        self.submitted.append(submission_id)
        self.known[submission_id] = RayJobState("RUNNING", None)

    def state(self, submission_id: str) -> RayJobState | None:
        return self.known.get(submission_id)

    def stop(self, submission_id: str) -> None:
        self.stopped.append(submission_id)

    def close(self) -> None:
        pass


def _state(queue: JobQueue, job_id: str) -> str | None:
    job = queue.get(job_id)
    return None if job is None else job.state


def test_queued_jobs_survive_a_server_restart(make_service: Any, tmp_path: Path) -> None:
    first = make_service()
    ids = []
    for name in ("svc-r1", "svc-r2"):
        code, job = call(first.url_http, "POST", "/api/v1/searches", {"space": space_text(name)})
        assert code == 201
        ids.append(job["id"])
    first.close()
    second = make_service()
    code, listed = call(second.url_http, "GET", "/api/v1/searches")
    assert [(j["id"], j["state"]) for j in listed["searches"]] == [(i, "queued") for i in ids]


def test_restart_resumes_a_vanished_running_job_and_starts_the_queued_ones(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    queue = JobQueue(url)
    running = queue.submit("svc-a", {"space_text": space_text("svc-a")})
    queue.start(running, "hpo-gone-1")  # the previous server's Ray instance had it
    exhausted = queue.submit("svc-b", {"space_text": space_text("svc-b")})
    for n in range(1, 3):
        job = queue.get(exhausted.id)
        assert job is not None
        if n > 1:
            queue.requeue(job, "resumed")
            job = queue.get(exhausted.id)
            assert job is not None
        queue.start(job, f"hpo-gone-b-{n}")
    waiting = queue.submit("svc-c", {"space_text": space_text("svc-c")})

    launcher = RecordingLauncher()
    dispatcher = Dispatcher(queue, launcher, url, max_running=2, max_attempts=2)
    dispatcher.recover()
    a, b = queue.get(running.id), queue.get(exhausted.id)
    assert a is not None and b is not None
    assert a.state == "queued" and "server restarted" in (a.reason or "")
    assert b.state == "failed" and "not resumed again after 2 attempts" in (b.reason or "")

    dispatcher.tick()
    a, c = queue.get(running.id), queue.get(waiting.id)
    assert a is not None and c is not None
    assert (a.state, a.attempt, a.ray_job) == ("running", 2, f"hpo-{a.id}-2")
    assert (c.state, c.attempt) == ("running", 1)
    assert launcher.submitted == [f"hpo-{a.id}-2", f"hpo-{c.id}-1"]


def test_max_running_holds_jobs_back_and_an_ended_ray_job_is_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    queue = JobQueue(url)
    jobs = [queue.submit(f"svc-m{i}", {}) for i in range(3)]
    launcher = RecordingLauncher()
    dispatcher = Dispatcher(queue, launcher, url, max_running=1)
    dispatcher.tick()
    assert [_state(queue, j.id) for j in jobs] == ["running", "queued", "queued"]
    # Its driver died without recording an outcome: Ray's verdict is recorded.
    launcher.known[f"hpo-{jobs[0].id}-1"] = RayJobState("FAILED", "exit code 137")
    dispatcher.tick()
    first = queue.get(jobs[0].id)
    assert first is not None and first.state == "failed"
    assert "exit code 137" in (first.reason or "")
    assert [_state(queue, j.id) for j in jobs[1:]] == ["running", "queued"]


def test_a_cancel_the_driver_does_not_honour_is_stopped_through_ray(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    queue = JobQueue(url)
    job = queue.submit("svc-stuck", {})
    launcher = RecordingLauncher()
    dispatcher = Dispatcher(queue, launcher, url, cancel_grace_s=0.0)
    dispatcher.tick()
    assert queue.cancel(job.id).state == "cancelling"
    dispatcher.tick()  # the driver has not ended it and the grace (0 s) is over
    assert set(launcher.stopped) == {f"hpo-{job.id}-1"}
    launcher.known[f"hpo-{job.id}-1"] = RayJobState("STOPPED", "stopped")
    dispatcher.tick()
    ended = queue.get(job.id)
    assert ended is not None and ended.state == "cancelled" and "STOPPED" in (ended.reason or "")


def test_a_stopping_server_hands_its_running_jobs_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    queue = JobQueue(url)
    job = queue.submit("svc-stop", {})
    waiting = queue.submit("svc-stop-2", {})
    launcher = RecordingLauncher()
    dispatcher = Dispatcher(queue, launcher, url, max_running=1)
    dispatcher.tick()
    # The driver ends its search once it sees the job queued again (see _job_main).
    launcher.known[f"hpo-{job.id}-1"] = RayJobState("SUCCEEDED", None)
    dispatcher.stop(drain_s=5)
    handed = queue.get(job.id)
    assert handed is not None and (handed.state, handed.attempt) == ("queued", 1)
    assert "the server stopped" in (handed.reason or "")
    assert _state(queue, waiting.id) == "queued"
    # The next server resumes it as attempt 2.
    Dispatcher(queue, RecordingLauncher(), url, max_running=1).tick()
    resumed = queue.get(job.id)
    assert resumed is not None and (resumed.state, resumed.attempt) == ("running", 2)
