"""The server's one background thread: starts queued jobs, follows running ones.

Every ``poll_s`` the dispatcher

- asks Ray about each running job; one that Ray has finished but whose driver did not
  record an outcome (it crashed, or was stopped with ``ray job stop``) is recorded with
  Ray's own message; one the cluster has never heard of (the server, and the Ray
  instance it had started, went away while it ran) is resumed (queued again: its study
  continues where it stopped) up to ``max_attempts`` starts, then failed with the reason
  (a server stopped cleanly hands its running jobs back itself: :meth:`Dispatcher.stop`);
- stops, through Ray, a job whose cancel its driver has not honoured within
  ``cancel_grace_s`` (a driver still opening its study, or stuck);
- starts the oldest queued jobs while fewer than ``max_running`` run.

:meth:`Dispatcher.recover` applies the same rules once at start-up, so a restarted
server accounts for every job the previous one left.
"""

from __future__ import annotations

import logging
import threading
import time

from hpo.service._queue import (
    CANCELLED,
    CANCELLING,
    FAILED,
    QUEUED,
    RUNNING,
    Job,
    JobQueue,
)
from hpo.service._ray_jobs import Launcher

_log = logging.getLogger("hpo.service")


def submission_id(job: Job, attempt: int) -> str:
    """The Ray job id of one attempt: ``ray job logs hpo-<job>-<attempt>``."""
    return f"hpo-{job.id}-{attempt}"


class Dispatcher:
    """Runs the queue's jobs on ``launcher``; see the module docstring."""

    def __init__(self, queue: JobQueue, launcher: Launcher, storage: str, *,
                 max_running: int = 1, poll_s: float = 1.0, cancel_grace_s: float = 30.0,
                 max_attempts: int = 3) -> None:
        if max_running < 1:
            raise ValueError(f"max_running: must be at least 1, got {max_running!r}")
        self.queue, self.launcher, self.storage = queue, launcher, storage
        self.max_running, self.poll_s = max_running, poll_s
        self.cancel_grace_s, self.max_attempts = cancel_grace_s, max_attempts
        self._cancel_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="hpo-service-dispatcher",
                                        daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a job was submitted or cancelled)."""
        self._wake.set()

    def stop(self, drain_s: float = 30.0) -> None:
        """Stop dispatching; hand the running jobs back to the queue first.

        Each running job is queued again (the next server resumes it), which its driver
        sees as its attempt being superseded: it ends the search as a first SIGINT
        does, so its running trials are closed in the store rather than left RUNNING
        when the cluster goes. Waits up to ``drain_s`` for the drivers to end.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        handed: list[str] = []
        for job in self.queue.jobs((RUNNING,)):
            sid = job.ray_job or submission_id(job, job.attempt)
            if self.queue.requeue(job, f"resumed: the server stopped while Ray job {sid} "
                                       f"(attempt {job.attempt}) ran; its study continues"):
                handed.append(sid)
        deadline = time.monotonic() + drain_s
        for sid in handed:
            while time.monotonic() < deadline:
                try:
                    state = self.launcher.state(sid)
                except Exception:  # noqa: BLE001 - the cluster is going anyway
                    break
                if state is None or state.ended:
                    break
                time.sleep(0.5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep dispatching; the next tick retries
                _log.exception("dispatcher tick failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def recover(self) -> None:
        """Account for the jobs a previous server left running (see the module docstring)."""
        for job in self.queue.jobs((RUNNING, CANCELLING)):
            self._follow(job, at_start=True)

    def tick(self) -> None:
        for job in self.queue.jobs((RUNNING, CANCELLING)):
            self._follow(job, at_start=False)
        running = len(self.queue.jobs((RUNNING, CANCELLING)))
        for job in self.queue.jobs((QUEUED,)):
            if running >= self.max_running or self._stop.is_set():
                break
            self._start(job)
            running += 1

    def _start(self, job: Job) -> None:
        attempt = job.attempt + 1
        sid = submission_id(job, attempt)
        # The row says "running, attempt N" before the driver exists: the driver checks
        # that it is the current attempt before it touches the study.
        if not self.queue.start(job, sid):
            return  # cancelled meanwhile
        try:
            self.launcher.submit(job, sid, self.storage)
        except Exception as exc:  # noqa: BLE001 - recorded on the job; the server goes on
            self.queue.finish(job.id, FAILED, f"could not submit Ray job {sid}: "
                              f"{type(exc).__name__}: {exc}", attempt=attempt)
            return
        _log.info("job %s (study %s) started as Ray job %s", job.id, job.study, sid)

    def _follow(self, job: Job, at_start: bool) -> None:
        sid = job.ray_job or submission_id(job, job.attempt)
        try:
            state = self.launcher.state(sid)
        except Exception:  # noqa: BLE001 - the cluster may be busy; look again next tick
            _log.debug("no state for %s", sid, exc_info=True)
            return
        if state is None:
            self._vanished(job, sid, "the server restarted" if at_start
                           else "the Ray cluster lost it")
            return
        if state.ended:
            current = self.queue.get(job.id)
            if current is not None and current.state in (RUNNING, CANCELLING) \
                    and current.attempt == job.attempt:
                # The driver ended without recording (it crashed, or `ray job stop`).
                end = CANCELLED if current.state == CANCELLING else FAILED
                self.queue.finish(job.id, end, f"Ray job {sid} ended {state.status}: "
                                  f"{state.message or 'no message'} (ray job logs {sid})",
                                  attempt=job.attempt)
            self._cancel_seen.pop(job.id, None)
            return
        if job.state == CANCELLING:
            first = self._cancel_seen.setdefault(job.id, time.monotonic())
            if time.monotonic() - first > self.cancel_grace_s:
                _log.warning("job %s did not stop within %g s of its cancel; stopping Ray "
                             "job %s", job.id, self.cancel_grace_s, sid)
                self._cancel_seen[job.id] = time.monotonic()  # again only after a grace
                self.launcher.stop(sid)

    def _vanished(self, job: Job, sid: str, why: str) -> None:
        what = f"{why} while Ray job {sid} (attempt {job.attempt}) ran"
        if job.state == CANCELLING:
            self.queue.finish(job.id, CANCELLED, f"cancelled; {what}", attempt=job.attempt)
        elif job.attempt < self.max_attempts:
            self.queue.requeue(job, f"resumed: {what}; its study continues")
        else:
            self.queue.finish(job.id, FAILED, f"{what}; not resumed again after "
                              f"{job.attempt} attempts", attempt=job.attempt)
