"""RELIABILITY 2: a worker killed with SIGKILL mid-trial.

Pass: the attempt is recorded as failed within a bounded time, the trial runs again
with the same parameters (up to ``max_retries``) and the retry history is stored.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import markers, trials, write_space

pytestmark = pytest.mark.usefixtures("ray_cluster")

#: Seconds from the kill to the failed attempt in the store that count as "bounded".
DETECT_BOUND_S = 10.0


def _kill_victim(folder: Path, killed: dict[str, float]) -> None:
    ready = folder / "markers" / "victim-ready.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if ready.exists():
            pid = markers(folder)["victim-ready.json"]["pid"]
            killed["at"] = time.time()
            os.kill(pid, signal.SIGKILL)  # a real worker process, a real signal
            return
        time.sleep(0.05)


def test_killed_worker_is_retried_with_same_params_and_history(
    tmp_path: Path, sqlite_url: str
) -> None:
    space = write_space(tmp_path, "rel02", "killable",
                        "  x: {type: float, low: 0.1, high: 1.0}\n",
                        trials=3, extra="max_retries: 2\n")
    killed: dict[str, float] = {}
    killer = threading.Thread(target=_kill_victim, args=(tmp_path, killed), daemon=True)
    killer.start()
    result = run_search(load_space(space), storage=sqlite_url, progress=False,
                        score_test=False)
    killer.join(timeout=5)
    assert "at" in killed, "the victim never got to step 3"

    stored = {t.number: t for t in trials(sqlite_url, "rel02")}
    assert len(stored) == 3 and result.complete == 3
    assert not [t for t in stored.values() if t.state == TrialState.RUNNING]
    victim = stored[0]
    assert victim.state == TrialState.COMPLETE
    history = victim.user_attrs[attrs.RETRIES]
    assert len(history) == 1
    failed = history[0]
    assert failed["attempt"] == 0 and failed["step"] == 2 and failed["resumes_from"] == 2
    assert 0 <= failed["at"] - killed["at"] < DETECT_BOUND_S
    seen = markers(tmp_path)
    first, second = seen["t0-a0.json"], seen["t0-a1.json"]
    assert second["x"] == first["x"] == victim.params["x"]  # the same parameters
    assert second["pid"] != first["pid"]  # a new worker process
    assert second["resumed_at"] == 2
    assert sorted(victim.intermediate_values) == [1, 2, 3, 4]
    for number, t in stored.items():
        if number:
            assert attrs.RETRIES not in t.user_attrs
