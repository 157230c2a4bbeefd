"""Throw-away stores for the reliability tests: fresh PostgreSQL databases, a private
PostgreSQL cluster that a test may stop and start, and space files."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

SPACE = """\
name: {name}
trainable: synthetic
objective: {{metric: {metric}, direction: {direction}}}
sampler: {{name: random}}
scheduler: fifo
budget: {{trials: {trials}, max_steps: {steps}}}
concurrency: 1
params:
  x: {{type: float, low: 0.0, high: {high}}}
  y: {{type: float, low: 0.0, high: 1.0}}
  steps: {steps}
  sleep: {sleep}
"""


def space_file(folder: Path, *, name: str = "rel", metric: str = "score",
               direction: str = "maximize", high: float = 1.0, trials: int = 8,
               steps: int = 2, sleep: float = 0.01) -> Path:
    """A synthetic-trainable space; the keywords change what makes it another experiment."""
    path = folder / f"{name}-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(SPACE.format(name=name, metric=metric, direction=direction, high=high,
                                 trials=trials, steps=steps, sleep=sleep))
    return path


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url``, dropped after."""
    import sqlalchemy

    name = f"h14a_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """A PostgreSQL cluster of the test's own (``pg_createcluster``), on its own port,
    that the test may stop and start; the shared server is never touched."""

    def __init__(self) -> None:
        versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
        self.version = versions[-1]
        self.name = f"h14a_{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name,
                        *args], check=True, capture_output=True, timeout=60)

    def create(self) -> None:
        subprocess.run(["pg_createcluster", self.version, self.name, "-p", str(self.port),
                        "--", "--auth-host=trust", "--auth-local=trust"],
                       check=True, capture_output=True, timeout=120)
        self.start()

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def remove(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", self.version, self.name],
                       capture_output=True, timeout=120)


def private_cluster_possible() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    import os
    import shutil

    if not Path("/etc/postgresql").is_dir() or shutil.which("pg_createcluster") is None:
        return "PostgreSQL's cluster tools (pg_createcluster) are not installed"
    if os.geteuid() != 0:
        return "pg_createcluster needs root here"
    return None
