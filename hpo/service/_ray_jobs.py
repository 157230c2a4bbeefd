"""Searches as Ray jobs, through Ray's Job Submission API (``ray job`` sees them).

Without an address the server starts a one-node Ray cluster of its own with
``ray start --head`` (dashboard and job agent on 127.0.0.1; the job API lives there)
and uses it as the cluster; with ``--address`` it submits to a running cluster's job
API. Either way a search is
``ray job submit``'s kind of job: its driver runs :mod:`hpo.service._job_main` next to
the cluster, its logs are ``ray job logs ID`` and ``ray job stop ID`` stops it.
"""

from __future__ import annotations

import contextlib
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


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free now on 127.0.0.1.

    Every socket stays bound until all are chosen: bound and closed one at a time, the
    kernel may hand the same port out twice, and ``ray start`` then refuses to start
    ("trying to use a port number ... that is used by other components").
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


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


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the server dies (Linux's PDEATHSIG).

    ``ray start --block`` then takes its processes down with it (Ray's reaper), so a
    server killed with SIGKILL leaves no Ray instance behind.
    """
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:
        pass


HEAD_PREFIX = "hpo-serve-"


def _remove_dead_heads() -> None:
    """Remove the Ray folders of servers that died without cleaning up (SIGKILL).

    Their Ray processes died with them; a folder is removed only when its server's
    pid is gone and no live process holds a file of its sessions.
    """
    import shutil
    import tempfile

    from hpo.execution._ray_instances import session_pids

    for folder in Path(tempfile.gettempdir()).glob(f"{HEAD_PREFIX}*"):
        try:
            pid = int((folder / "server.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # its server lives
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if any(session_pids(str(s)) for s in folder.glob("session_2*")):
            continue
        shutil.rmtree(folder, ignore_errors=True)


class LocalHead:
    """A one-node Ray cluster of the server's own: ``ray start --head --block``.

    Started as Ray documents a cluster with a job API (``ray start``, not
    ``ray.init``): every port is chosen free here, so several servers, and Ray
    instances of other programs, coexist on one machine (Ray's fixed defaults, such as
    the job agent's 52365, would collide). Stopped by :meth:`stop`, or with the server.
    """

    PORTS = ("--port", "--dashboard-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--node-manager-port",
             "--object-manager-port", "--metrics-export-port", "--ray-client-server-port")

    def __init__(self, num_cpus: float | None = None, timeout_s: float = 120.0) -> None:
        import subprocess
        import tempfile

        _remove_dead_heads()
        # Short: Ray's Unix socket paths live under it (about 107 characters at most).
        self.temp_dir = tempfile.mkdtemp(prefix=HEAD_PREFIX)
        Path(self.temp_dir, "server.pid").write_text(str(os.getpid()))
        ports = dict(zip(self.PORTS, free_ports(len(self.PORTS)), strict=True))
        ray_bin = Path(sys.executable).with_name("ray")
        cmd = [str(ray_bin), "start", "--head", "--block", "--disable-usage-stats",
               "--temp-dir", self.temp_dir, "--dashboard-host", "127.0.0.1",
               "--include-dashboard", "true"]
        for flag, port in ports.items():
            cmd += [flag, str(port)]
        if num_cpus is not None:
            cmd += ["--num-cpus", f"{num_cpus:g}"]
        self.log_path = Path(self.temp_dir) / "ray-start.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        self.address = f"127.0.0.1:{ports['--port']}"
        self.dashboard_url = f"http://127.0.0.1:{ports['--dashboard-port']}"
        deadline = time.monotonic() + timeout_s
        while not _listening(ports["--dashboard-port"]):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"ray start --head did not come up: {text}")
            time.sleep(0.3)

    def stop(self) -> None:
        import contextlib
        import shutil
        import signal
        import subprocess

        from hpo.execution._ray_instances import session_pids

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Workers leave the process group; whatever still holds this session's files is
        # this server's and nobody else's.
        for session in Path(self.temp_dir).glob("session_2*"):
            for pid in session_pids(str(session)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _dashboard_of(address: str) -> str:
    """The job API of the cluster at ``address`` (``auto`` or its GCS ``HOST:PORT``)."""
    import logging

    import ray

    context = ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        url = getattr(context, "dashboard_url", None)
    finally:
        ray.shutdown()
    if not url:
        raise RuntimeError(f"the Ray cluster at {address!r} has no dashboard, so no job API; "
                           "start its head with `ray start --head` and ray[default] installed")
    return str(url) if "://" in str(url) else f"http://{url}"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class RayJobs:
    """The Ray cluster this server submits to, and its Job Submission client.

    Args:
        address: a running cluster: its job API (``http://HOST:8265``), or ``auto`` or
            its GCS ``HOST:PORT`` (its job API is then asked of it); None: start a
            one-node cluster here (:class:`LocalHead`).
        num_cpus: CPUs of the local cluster (None: Ray counts them).
        working_dir: shipped with every job as its ``working_dir`` (the user's code).
    """

    def __init__(self, address: str | None = None, num_cpus: float | None = None,
                 working_dir: str | None = None, start_timeout_s: float = 300.0) -> None:
        from hpo._imports import require
        from hpo.execution._ray_init import cluster_runtime_env, quiet_environment

        quiet_environment()
        if not address:
            # The server's own cluster takes Ray's token authentication (the token from
            # $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token); set before Ray
            # is imported, which reads the mode once. The head and the job drivers
            # inherit it.
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        require("ray")
        self.head = None if address else LocalHead(num_cpus)
        if self.head is not None:
            self.dashboard_url = self.head.dashboard_url
        elif address and "://" in address:
            self.dashboard_url = address  # the job API itself
        else:
            self.dashboard_url = _dashboard_of(str(address))
        self.agent_wait_s = start_timeout_s
        self.working_dir = os.path.abspath(working_dir or os.getcwd())
        self.runtime_env = cluster_runtime_env(self.working_dir)
        try:
            self.client = self._connect(start_timeout_s)
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout_s: float) -> Any:
        from ray.exceptions import AuthenticationError
        from ray.job_submission import JobSubmissionClient

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client = JobSubmissionClient(self.dashboard_url)
                client.list_jobs()
                return client
            except AuthenticationError as exc:
                raise RuntimeError(
                    f"the Ray cluster at {self.dashboard_url} wants a token: set "
                    "RAY_AUTH_MODE=token and the token in $RAY_AUTH_TOKEN, "
                    "$RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token") from exc
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
        if self.head is not None:
            self.head.stop()
            self.head = None
