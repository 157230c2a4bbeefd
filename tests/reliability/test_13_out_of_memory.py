"""RELIABILITY 13: a trial that runs out of memory.

Pass: the trial ends with the out-of-memory reason stored, the sampler is told the
config is infeasible (an Optuna constraint) and proposes it less, the search goes on.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.execution._ledger import INFEASIBLE_CONSTRAINT
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import trials, write_space

pytestmark = pytest.mark.usefixtures("ray_cluster")

TRIALS = 24
STARTUP = 6


def test_out_of_memory_is_stored_and_learned_as_infeasible(
    tmp_path: Path, sqlite_url: str
) -> None:
    space = write_space(
        tmp_path, "rel13", "memory_hungry",
        "  x: {type: float, low: 0.0, high: 1.0}\n"
        "  batch_size: [8, 16, 32, 64, 128, 256]\n",  # a third of the choices do not fit
        trials=TRIALS, max_steps=2, concurrency=1, extra="max_retries: 2\n",
        sampler=f"{{name: tpe, options: {{seed: 0, n_startup_trials: {STARTUP}}}}}")
    result = run_search(load_space(space), storage=sqlite_url, progress=False,
                        score_test=False)
    stored = sorted(trials(sqlite_url, "rel13"), key=lambda t: t.number)
    assert len(stored) == TRIALS and result.started == TRIALS  # the search went on
    assert not [t for t in stored if t.state == TrialState.RUNNING]
    oom = [t for t in stored if t.params["batch_size"] >= 128]
    assert oom, "no infeasible config was tried"
    for t in stored:
        if t.params["batch_size"] < 128:
            assert t.state == TrialState.COMPLETE
            assert not t.constraints.get(INFEASIBLE_CONSTRAINT)
            continue
        reason = t.user_attrs[attrs.FAIL_REASON]
        assert "out of memory" in reason, reason
        assert ("OutOfMemoryError" in reason) == (t.params["x"] >= 0.5)
        assert t.user_attrs[attrs.INFEASIBLE] is True
        assert t.user_attrs[attrs.STOP]["by"] == "infeasible"
        assert t.constraints[INFEASIBLE_CONSTRAINT] > 0  # what TPE reads
        assert attrs.RETRIES not in t.user_attrs  # the same config would fail again
    late = [t for t in stored if t.number >= TRIALS - 10]
    late_oom = sum(t.params["batch_size"] >= 128 for t in late)
    # Random proposals would put about a third (3-4 of 10) there.
    assert late_oom <= 2, [t.params["batch_size"] for t in stored]
    best = optuna.load_study(study_name="rel13", storage=sqlite_url).best_trial
    assert best.params["batch_size"] < 128
