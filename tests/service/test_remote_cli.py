"""``hpo run --server``, ``hpo status`` and ``hpo cancel`` as a user runs them, against a
server with no Ray (the search stays queued, which is all these commands need)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.service.conftest import call, space_text


def _hpo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpo", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_run_status_cancel_through_the_server(make_service: Any, tmp_path: Path) -> None:
    base = make_service().url_http
    space = tmp_path / "space.yaml"
    space.write_text(space_text("cli-remote"))
    env = {**os.environ, "HPO_SERVER": base}
    out = _hpo("run", str(space), "--trials", "7", "--seed", "5", env=env)
    assert out.returncode == 0, out.stderr
    assert "queued on" in out.stdout and "cli-remote" in out.stdout
    _, listed = call(base, "GET", "/api/v1/searches?study=cli-remote")
    (job,) = listed["searches"]
    assert job["request"]["trials"] == 7 and job["request"]["seed"] == 5

    out = _hpo("status", "cli-remote", "--server", base)
    assert out.returncode == 0 and f"search {job['id']}" in out.stdout
    assert "queued" in out.stdout and "trials 0/7" in out.stdout
    out = _hpo("cancel", job["id"], "--server", base)
    assert out.returncode == 0 and "cancelled" in out.stdout
    out = _hpo("cancel", "cli-remote", "--server", base)
    assert out.returncode == 2 and "already ended" in out.stderr

    out = _hpo("status", "no-such-study", "--server", base)
    assert out.returncode == 4 and "no-such-study" in out.stderr
    # What only a local run decides is refused with --server.
    out = _hpo("run", str(space), "--server", base, "--storage", "sqlite:///x.db")
    assert out.returncode == 2 and "--storage" in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(space_text("cli-bad").replace("high: 1.0}", "high: -1.0}", 1))
    out = _hpo("run", str(bad), "--server", base)
    assert out.returncode == 2 and "422" in out.stderr and "high" in out.stderr


def test_no_server_reachable_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HPO_SERVER"}
    out = _hpo("status", "x", env=env)
    assert out.returncode == 2 and "--server" in out.stderr
    out = _hpo("status", "x", "--server", "http://127.0.0.1:9", env=env)
    assert out.returncode == 1 and "cannot reach the server" in out.stderr
