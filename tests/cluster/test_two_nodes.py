"""A real two-node Ray cluster (``ray start --head`` and ``ray start --address``) running
one ``hpo run``: a custom trainable that exists only in the driver's folder reaches both
nodes through Ray's ``working_dir``, and the trials land on both nodes.

Works whether or not ``ray start --head`` turns token authentication on here (Ray 2.60
does when a token exists, e.g. ``~/.ray/auth_token``): with it on, the test first checks
that ``hpo run`` without ``RAY_AUTH_MODE=token`` fails at once with one clear line, then
uses the token the way a user does (``RAY_AUTH_MODE=token``, the token from Ray's own
places). Teardown stops only what this test started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo.service._ray_jobs import free_ports

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

BIN = Path(sys.executable).parent
TRAINABLE = '''
"""Exists only in the driver's folder: the workers get it through working_dir."""
import time

import hpo


def steps(config):
    for step in range(1, 4):
        time.sleep(config["pause"])
        hpo.report({"score": config["x"] * step})
'''
SPACE = """\
name: two-nodes
trainable: cluster_trainable:steps
objective: {metric: score, direction: maximize}
sampler: {name: random, options: {seed: 0}}
scheduler: fifo
budget: {trials: 4, max_steps: 3}
concurrency: 2
resources: {cpu: 1}
params:
  x: {type: float, low: 0.0, high: 1.0}
  pause: 0.4
"""
NODES = """
import json, logging, ray
ray.init(address=%r, logging_level=logging.ERROR, log_to_driver=False)
print(json.dumps([{"id": n["NodeID"], "resources": n["Resources"]}
                  for n in ray.nodes() if n["Alive"]]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


class Cluster:
    """The processes and folders this test started, and how a user's shell looks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        # A user's shell: no Ray address or auth mode set (this test process may have
        # both from its own Ray instance); hpo's instance records in a folder of its own.
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
        self.env["HPO_STATE_DIR"] = str(root / "state")
        self.user_env = dict(self.env)
        self.token = False

    def start(self, name: str, *args: str, env: dict[str, str]) -> None:
        temp = self.root / name
        temp.mkdir()
        log = (self.root / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(
            [str(BIN / "ray"), "start", "--temp-dir", str(temp), "--num-cpus", "1",
             "--disable-usage-stats", "--block", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.root.glob("*.log")))

    def ray_status(self, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "ray"), "status", "--address", self.address],
                              env=env, capture_output=True, text=True, timeout=60)

    def nodes(self) -> list[dict[str, Any]]:
        out = subprocess.run([sys.executable, "-c", NODES % self.address],
                             env=self.user_env, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            return []
        return list(json.loads(out.stdout.strip().splitlines()[-1]))

    def stop(self) -> None:
        from hpo.execution import _ray_instances

        for proc in reversed(self.procs):  # the worker node first, then the head
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Ray processes that left the groups (workers make their own) but still hold
        # files of this test's sessions: this test's, and nobody else's.
        for session in self.root.glob("*/session_2*"):
            for pid in _ray_instances.session_pids(str(session)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Short: Ray's socket paths live under it (Unix sockets allow ~107 characters).
    root = Path(tempfile.mkdtemp(prefix="hpo-cl-"))
    c = Cluster(root)
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def _start_head(cluster: Cluster, *extra: str) -> None:
    """``ray start --head`` with ``extra`` flags; notes whether the head wants a token."""
    cluster.start("head", "--head", "--port", str(cluster.port),
                  "--resources", '{"head_node": 1}', *extra, env=cluster.env)
    deadline = time.monotonic() + 60
    while not _listening(cluster.port):
        assert time.monotonic() < deadline, cluster.logs()
        assert cluster.procs[0].poll() is None, cluster.logs()
        time.sleep(0.3)
    # Does this head want a token? Ask it the way a user would, with `ray status`.
    while True:
        out = cluster.ray_status(cluster.env)
        if out.returncode == 0:
            return
        if "InvalidAuthToken" in out.stderr or "Authentication" in out.stderr:
            cluster.token = True
            # Ray's convention: token mode on, the token from RAY_AUTH_TOKEN,
            # $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token (where `ray start` found it).
            cluster.user_env["RAY_AUTH_MODE"] = "token"
            return
        assert time.monotonic() < deadline, out.stderr[-2000:]
        time.sleep(0.5)


def _project(root: Path) -> Path:
    """The user's project: a trainable module that exists only here (the workers' own
    directory is elsewhere), and a space file."""
    work = root / "project"
    work.mkdir()
    (work / "cluster_trainable.py").write_text(textwrap.dedent(TRAINABLE))
    (work / "space.yaml").write_text(SPACE)
    return work


def _completed(study: str, storage: str) -> list[Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=study, storage=storage).trials
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), \
        [(t.number, t.state, t.user_attrs.get("hpo:error")) for t in trials]
    return trials


def test_a_search_runs_its_trials_on_both_nodes(cluster: Cluster, postgres_url: str,
                                               tmp_path: Path) -> None:
    _start_head(cluster, "--include-dashboard", "false")
    deadline = time.monotonic() + 60
    cluster.start("node2", "--address", cluster.address, "--resources", '{"node2": 1}',
                  env=cluster.user_env)
    while len(nodes := cluster.nodes()) < 2:
        assert time.monotonic() < deadline, cluster.logs()
        assert all(p.poll() is None for p in cluster.procs), cluster.logs()
        time.sleep(0.5)
    ids = {next(k for k in ("head_node", "node2") if k in n["resources"]): n["id"]
           for n in nodes}
    assert set(ids) == {"head_node", "node2"}

    work = _project(tmp_path)
    study = f"two-nodes-{uuid.uuid4().hex[:8]}"
    run = [str(BIN / "hpo"), "run", "space.yaml", "--address", cluster.address,
           "--storage", postgres_url, "--study", study, "--quiet", "--no-test-score"]

    if cluster.token:
        # Without RAY_AUTH_MODE=token: one clear line, at once, not Ray's 20 s retries.
        started = time.monotonic()
        out = subprocess.run(run, cwd=work, env=cluster.env, capture_output=True,
                             text=True, timeout=120)
        took = time.monotonic() - started
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert f"the Ray cluster at {cluster.address} requires a token" in lines[0]
        assert "RAY_AUTH_MODE=token" in lines[0]
        assert took < 15, took

    out = subprocess.run(run, cwd=work, env=cluster.user_env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-4000:] + cluster.logs()

    trials = _completed(study, postgres_url)
    workers = {t.user_attrs.get("hpo:worker") for t in trials}
    assert None not in workers and len(workers) >= 2, workers
    # Each trial records the Ray node it ran on; both nodes ran trials.
    recorded_nodes = {t.user_attrs.get("hpo:node") for t in trials}
    assert recorded_nodes == set(ids.values()), (recorded_nodes, ids)

    out = cluster.ray_status(cluster.user_env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Active:" in out.stdout


def test_a_search_submitted_as_a_ray_job(cluster: Cluster, postgres_url: str,
                                         tmp_path: Path) -> None:
    """docs/cluster.md's `ray job submit --working-dir . -- hpo run ...`: the driver runs
    on the cluster as a Ray job, joins it through the address Ray gives the job, and
    its trials import the user's module from the job's working_dir."""
    # Chosen together so the two cannot coincide (see free_ports).
    dashboard_port, agent_port = free_ports(2)
    # Jobs run through the node's dashboard agent, whose HTTP port is fixed (52365) by
    # default: another Ray instance on the machine (this suite's own) would hold it.
    _start_head(cluster, "--dashboard-port", str(dashboard_port),
                "--dashboard-host", "127.0.0.1",
                "--dashboard-agent-listen-port", str(agent_port))
    work = _project(tmp_path)
    study = f"ray-job-{uuid.uuid4().hex[:8]}"
    submit = [str(BIN / "ray"), "job", "submit",
              "--address", f"http://127.0.0.1:{dashboard_port}", "--working-dir", ".", "--",
              str(BIN / "hpo"), "run", "space.yaml", "--storage", postgres_url,
              "--study", study, "--quiet", "--no-test-score"]
    # The job API answers a while after the head's GCS port opens (its dashboard
    # process starts last); `ray job submit` itself asks /api/version first.
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/api/version",
                                   timeout=5).close()
            break
        except urllib.error.HTTPError:
            break  # it answers (401 without a token on a token cluster): it is up
        except OSError:
            pass
        assert time.monotonic() < deadline, cluster.logs()
        assert cluster.procs[0].poll() is None, cluster.logs()
        time.sleep(0.5)
    # The head's job API answers before the node's job agent has registered; Ray then
    # says "No available agent to submit job, please try again later", so try again.
    deadline = time.monotonic() + 90
    while True:
        out = subprocess.run(submit, cwd=work, env=cluster.user_env, capture_output=True,
                             text=True, timeout=240)
        if out.returncode == 0 or "No available agent" not in out.stdout + out.stderr \
                or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:] + cluster.logs()
    assert "succeeded" in out.stdout, out.stdout[-2000:]
    trials = _completed(study, postgres_url)
    assert {t.user_attrs.get("hpo:node") for t in trials} != {None}
