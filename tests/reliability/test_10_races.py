"""RELIABILITY 10: many processes creating/loading one study at once give exactly one
study; N enqueued configs with N workers are each evaluated exactly once.

Real processes, released at one instant, on a fresh store each time (the schema is
created by whichever comes first), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import attrs
from tests.conftest import ROOT
from tests.reliability._stores import fresh_database, space_file

N_PROCESSES = 16

# Each process imports everything, says it is ready, waits for the "go" file, then opens
# (creates or loads) the study: all of them inside the same few milliseconds.
OPEN = """\
import json, os, sys, time
gate, url, space, study = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
from hpo.spaces import load_space
from hpo.storage import StudyMismatch, open_study
import optuna, sqlalchemy
spec = load_space(space)
open(f"{gate}.ready.{os.getpid()}", "w").close()
while not os.path.exists(gate):
    time.sleep(0.005)
t0 = time.time()
try:
    s = open_study(spec, study, url)
    out = {"ok": s.study_name, "direction": s.direction.name}
except StudyMismatch as exc:
    out = {"refused": str(exc)}
out["seconds"] = time.time() - t0
print(json.dumps(out))
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with fresh_database(request.getfixturevalue("postgres_url")) as url:
            yield url


def _release(cmds: list[list[str]], gate: Path | None = None
             ) -> list[subprocess.CompletedProcess[str]]:
    """Run ``cmds`` at once; with ``gate``, open it once every process is ready."""
    procs = [subprocess.Popen(c, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for c in cmds]
    if gate is not None:
        deadline = time.time() + 120
        while len(list(gate.parent.glob(gate.name + ".ready.*"))) < len(cmds):
            assert time.time() < deadline, "the processes did not get ready"
            assert all(p.poll() is None for p in procs), "a process ended before the gate"
            time.sleep(0.05)
        gate.touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_processes_opening_one_study_at_once_make_exactly_one(
        tmp_path: Path, fresh_url: str) -> None:
    space = space_file(tmp_path)
    other = space_file(tmp_path, direction="minimize")  # one process has the other direction
    gate = tmp_path / "go"
    cmds = [[sys.executable, "-c", OPEN, str(gate), fresh_url,
             str(other if i == 0 else space), "race"] for i in range(N_PROCESSES)]
    results = _release(cmds, gate)
    for r in results:
        assert r.returncode == 0, r.stderr
    answers = [json.loads(r.stdout.strip().splitlines()[-1]) for r in results]
    opened = [a for a in answers if "ok" in a]
    refused = [a for a in answers if "refused" in a]
    summaries = optuna.get_all_study_summaries(fresh_url)
    assert [s.study_name for s in summaries] == ["race"]
    study = optuna.load_study(study_name="race", storage=fresh_url)
    # Whoever came first made the study; everyone with the other direction was refused.
    if study.direction.name == "MAXIMIZE":
        assert len(opened) == N_PROCESSES - 1 and len(refused) == 1
    else:
        assert len(opened) == 1 and len(refused) == N_PROCESSES - 1
    assert all(a["direction"] == study.direction.name for a in opened)
    assert study.user_attrs[attrs.DIRECTION] == study.direction.name.lower()
    for a in refused:
        assert "direction" in a["refused"] and "params changed" not in a["refused"]
    slowest = max(a["seconds"] for a in answers)
    print(f"{N_PROCESSES} processes opened one study; the slowest waited {slowest:.2f} s")


def test_enqueued_configs_with_as_many_workers_each_run_exactly_once(
        tmp_path: Path, fresh_url: str) -> None:
    from hpo.spaces import load_space
    from hpo.storage import open_study

    n = 8
    space = space_file(tmp_path, trials=n)
    study = open_study(load_space(space), "queue", fresh_url)
    wanted = [round(0.05 + i * 0.1, 4) for i in range(n)]
    for x in wanted:
        study.enqueue_trial({"x": x, "y": 0.5})
    cmds = [[sys.executable, "-m", "tests.reliability._writer", fresh_url, "queue", str(space),
             str(n)] for _ in range(n)]
    results = _release(cmds)
    for r in results:
        assert r.returncode == 0, r.stderr
    trials = optuna.load_study(study_name="queue", storage=fresh_url).get_trials()
    assert len(trials) == n
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.params["x"] for t in trials) == wanted  # each once, none twice
    assert sorted(t.number for t in trials) == list(range(n))
    finished = [json.loads(line) for r in results for line in r.stdout.splitlines()]
    assert sorted(f["number"] for f in finished) == list(range(n))
