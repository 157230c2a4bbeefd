"""Searches as Ray jobs, through Ray's Job Submission API (``ray job`` sees them).

Without an address the server starts a local Ray instance of its own, with Ray's
dashboard and job agent on (the job API lives there), and uses it as the cluster; with
``--address`` it joins a running cluster and submits there. Either way a search is
``ray job submit``'s kind of job: its driver runs :mod:`hpo.service._job_main` next to
the cluster, its logs are ``ray job logs ID`` and ``ray job stop ID`` stops it.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hpo.service._queue import Job


@dataclass(frozen=True)
class RayJobState:
    """What Ray says of one job: ``status`` is Ray's (PENDING, RUNNING, SUCCEEDED, ...)."""

    status: str
    message: str | None

    @property
    def ended(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "STOPPED")


class Launcher(Protocol):
    """Starts, watches and stops the driver of each job attempt."""

    def submit(self, job: Job, submission_id: str, storage: str) -> None: ...

    def state(self, submission_id: str) -> RayJobState | None:
        """None: the cluster has never heard of it (it restarted, or another cluster)."""

    def stop(self, submission_id: str) -> None: ...

    def close(self) -> None: ...


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store_excludes(storage: str, working_dir: str) -> list[str]:
    """``excludes`` for a SQLite store (and its -wal, -shm and lock files) inside
    ``working_dir``.

    Besides not shipping the database with every job, this keeps the store's files from
    being opened and closed by Ray's packaging in the server process: closing any file
    descriptor of a SQLite file drops every POSIX lock the process holds on it, and the
    next driver to close its connection then deletes the live WAL.
    """
    prefix = "sqlite:///"
    if not storage.startswith(prefix):
        return []
    try:
        inside = Path(storage[len(prefix):]).resolve().relative_to(Path(working_dir).resolve())
    except ValueError:
        return []
    return [f"/{inside.as_posix()}*"]


class RayJobs:
    """The Ray cluster this server submits to, and its Job Submission client.

    Args:
        address: a cluster to join (``auto`` or ``HOST:PORT``); None: start a local
            instance here with its dashboard on 127.0.0.1.
        num_cpus: CPUs of the local instance (None: Ray counts them).
        working_dir: shipped with every job as its ``working_dir`` (the user's code).
    """

    def __init__(self, address: str | None = None, num_cpus: float | None = None,
                 working_dir: str | None = None, start_timeout_s: float = 300.0) -> None:
        from hpo._imports import require
        from hpo.execution._ray_init import cluster_runtime_env, quiet_environment

        quiet_environment()
        ray = require("ray")
        kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if address:
            context = ray.init(address=address, **kwargs)
        else:
            context = ray.init(address="local", include_dashboard=True,
                               dashboard_host="127.0.0.1", dashboard_port=_free_port(),
                               num_cpus=num_cpus, **kwargs)
        self.started_here = not address
        self.agent_wait_s = start_timeout_s
        url = getattr(context, "dashboard_url", None)
        if not url:
            ray.shutdown()
            raise RuntimeError("the Ray cluster has no dashboard, so no job API; start it "
                               "with `ray start --head` (ray[default] installed)")
        self.dashboard_url = url if "://" in url else f"http://{url}"
        self.working_dir = os.path.abspath(working_dir or os.getcwd())
        self.runtime_env = cluster_runtime_env(self.working_dir)
        from ray.job_submission import JobSubmissionClient

        deadline = time.monotonic() + start_timeout_s
        while True:  # the job agent comes up a little after the dashboard
            try:
                self.client = JobSubmissionClient(self.dashboard_url)
                self.client.list_jobs()
                break
            except Exception:  # not up yet; Ray raises several kinds
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def submit(self, job: Job, submission_id: str, storage: str) -> None:
        attempt = int(submission_id.rsplit("-", 1)[1])
        entry = " ".join(shlex.quote(a) for a in (
            sys.executable, "-m", "hpo.service._job_main", "--job", job.id,
            "--attempt", str(attempt), "--storage", storage))
        runtime_env = dict(self.runtime_env)
        if "working_dir" in runtime_env:
            runtime_env["excludes"] = [*runtime_env.get("excludes", []),
                                       *store_excludes(storage, self.working_dir)]
        deadline = time.monotonic() + self.agent_wait_s
        while True:
            try:
                self.client.submit_job(entrypoint=entry, submission_id=submission_id,
                                       runtime_env=runtime_env,
                                       metadata={"hpo_job": job.id, "hpo_study": job.study})
                return
            except RuntimeError as exc:
                # Ray's job agent starts some seconds after its dashboard answers.
                if "No available agent" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def state(self, submission_id: str) -> RayJobState | None:
        try:
            info = self.client.get_job_info(submission_id)
        except RuntimeError as exc:  # Ray's client: "Request failed with status code 404"
            if "404" in str(exc) or "does not exist" in str(exc):
                return None
            raise
        return RayJobState(status=str(getattr(info.status, "value", info.status)),
                           message=info.message)

    def stop(self, submission_id: str) -> None:
        self.client.stop_job(submission_id)

    def close(self) -> None:
        import ray

        ray.shutdown()
