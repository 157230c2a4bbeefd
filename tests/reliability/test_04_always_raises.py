"""RELIABILITY 4: a trial that raises on every attempt.

Pass: it runs exactly ``max_retries`` more times, ends FAIL with its traceback
stored, the other trials finish and the search ends normally.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import markers, trials, write_space

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.mark.parametrize("max_retries", [0, 2])
def test_always_raising_trial_is_retried_exactly_max_retries_times(
    tmp_path: Path, sqlite_url: str, max_retries: int
) -> None:
    space = write_space(tmp_path, "rel04", "always_raises",
                        "  x: {type: float, low: 0.1, high: 1.0}\n", trials=4)
    # The space says 5; the run's own setting (hpo run --max-retries) wins.
    text = space.read_text().replace("concurrency: 2\n", "concurrency: 2\nmax_retries: 5\n")
    space.write_text(text)
    result = run_search(load_space(space), storage=sqlite_url, progress=False,
                        score_test=False, max_retries=max_retries)
    stored = {t.number: t for t in trials(sqlite_url, "rel04")}
    assert len(stored) == 4 and result.started == 4
    doomed = stored[1]
    assert doomed.state == TrialState.FAIL
    reason = doomed.user_attrs[attrs.FAIL_REASON]
    # The traceback: the frame that raised, and the error of the last attempt.
    assert ", in always_raises" in reason and "raise ValueError" in reason
    assert f"ValueError: doomed trial, attempt {max_retries}" in reason
    attempts = sorted(k for k in markers(tmp_path) if k.startswith("t1-"))
    assert attempts == [f"t1-a{i}.json" for i in range(max_retries + 1)]
    history = doomed.user_attrs.get(attrs.RETRIES, [])
    assert [h["attempt"] for h in history] == list(range(max_retries))
    assert all(f"doomed trial, attempt {h['attempt']}" in h["error"] for h in history)
    others = [t for n, t in stored.items() if n != 1]
    assert all(t.state == TrialState.COMPLETE for t in others)
    assert result.complete == 3 and result.failed == 1


@pytest.mark.postgres
def test_retries_are_recorded_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    name = f"rel04-{int(time.time() * 1000)}"
    space = write_space(tmp_path, "rel04", "always_raises",
                        "  x: {type: float, low: 0.1, high: 1.0}\n", trials=3,
                        extra="max_retries: 1\n")
    try:
        run_search(load_space(space), study_name=name, storage=postgres_url,
                   progress=False, score_test=False)
        stored = {t.number: t for t in trials(postgres_url, name)}
        assert stored[1].state == TrialState.FAIL
        assert [h["attempt"] for h in stored[1].user_attrs[attrs.RETRIES]] == [0]
        assert all(stored[n].state == TrialState.COMPLETE for n in (0, 2))
    finally:
        optuna.delete_study(study_name=name, storage=postgres_url)
