"""RELIABILITY 3: a retried trial resumes from its last checkpoint.

Pass: the second attempt starts at the step after the checkpoint (step 3, not 1),
and the stored intermediate steps are strictly increasing with no duplicates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import markers, trials, write_space

pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_retry_resumes_at_the_checkpointed_step(tmp_path: Path, sqlite_url: str) -> None:
    space = write_space(tmp_path, "rel03", "resumable",
                        "  x: {type: float, low: 0.1, high: 1.0}\n",
                        trials=2, extra="max_retries: 1\n")
    run_search(load_space(space), storage=sqlite_url, progress=False, score_test=False)
    stored = {t.number: t for t in trials(sqlite_url, "rel03")}
    seen = markers(tmp_path)
    assert seen["t0-a0.json"]["steps"] == [1, 2]
    assert seen["t0-a1.json"] == {"steps": [3, 4, 5], "start_step": 2}  # not from 0
    victim = stored[0]
    assert victim.state == TrialState.COMPLETE
    steps = sorted(victim.intermediate_values)
    assert steps == [1, 2, 3, 4, 5]
    assert victim.user_attrs[attrs.STEP] == 5
    # The resumed state carried on: step k's score is k * x, as in a run that never failed.
    x = victim.params["x"]
    for step, value in victim.intermediate_values.items():
        assert value == pytest.approx(step * x)
    assert [h["resumes_from"] for h in victim.user_attrs[attrs.RETRIES]] == [2]
    stored_steps = [s for s, _ in attrs.metrics_history(victim.user_attrs)]
    assert stored_steps == [1, 2, 3, 4, 5]
    assert stored[1].state == TrialState.COMPLETE and sorted(
        stored[1].intermediate_values) == [1, 2, 3, 4, 5]
