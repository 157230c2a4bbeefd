"""Time limits that hold for trials that never poll ``should_stop()``.

A per-trial limit (``budget.trial_time``) and the search's time budget both end
such a trial by ending its worker process; the ledger stores it PRUNED at the step
it reached. How the ledger classifies those ends is tested in simulated time in
``test_retries.py``; here, that real searches with a hung trial finish.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import trials, write_space

pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_trial_time_ends_a_hung_trial_and_the_search_goes_on(
    tmp_path: Path, sqlite_url: str
) -> None:
    space = write_space(tmp_path, "tlim", "hangs", "  x: {type: float, low: 0.1, high: 1.0}\n",
                        trials=3, max_steps=2, extra="max_retries: 2\n")
    space.write_text(space.read_text().replace(
        "budget: {trials: 3, max_steps: 2}", "budget: {trials: 3, max_steps: 2, trial_time: 4}"))
    result = run_search(load_space(space), storage=sqlite_url, progress=False,
                        score_test=False)
    stored = {t.number: t for t in trials(sqlite_url, "tlim")}
    assert len(stored) == 3 and result.started == 3
    hung = stored[0]
    assert hung.state == TrialState.PRUNED
    stop = hung.user_attrs[attrs.STOP]
    assert stop["by"] == "trial_time" and "4 s" in stop["reason"] and stop["rung"] == 1
    assert attrs.RETRIES not in hung.user_attrs  # a time limit is not retried
    assert all(stored[n].state == TrialState.COMPLETE for n in (1, 2))


def test_time_budget_ends_a_trial_that_never_polls(tmp_path: Path, sqlite_url: str) -> None:
    space = write_space(tmp_path, "tbud", "hangs", "  x: {type: float, low: 0.1, high: 1.0}\n",
                        trials=50, max_steps=2, concurrency=1)
    result = run_search(load_space(space), storage=sqlite_url, progress=False,
                        score_test=False, time_budget=10.0)
    assert result.stopped_by_budget
    # Without the worker's own limit this search never returned (the hung trial sleeps
    # 1000 s); the bound here only says "it ended", not how fast.
    assert result.elapsed_s < 60
    stored = trials(sqlite_url, "tbud")
    assert not [t for t in stored if t.state == TrialState.RUNNING]
    hung = next(t for t in stored if t.number == 0)
    assert hung.state == TrialState.PRUNED and hung.user_attrs[attrs.STOP]["by"] == "budget"
