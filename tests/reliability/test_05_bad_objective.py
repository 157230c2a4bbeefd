"""RELIABILITY 5: objective values that are NaN, inf, None or text.

Pass: each such trial is a clear FAIL with the reason stored, none is left RUNNING,
and inf never becomes the best. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import trials, write_space
from tests.reliability._trainables import BAD_KINDS

pytestmark = pytest.mark.usefixtures("ray_cluster")

EXPECTED = {"nan": ("not finite", "nan"), "inf": ("not finite", "inf"),
            "none": ("not a number", "None"), "text": ("not a number", "'0.9'")}


def _check(url: str, name: str, path: Path) -> None:
    result = run_search(load_space(path), study_name=name, storage=url, progress=False,
                        score_test=False)
    stored = trials(url, name)
    assert len(stored) == 10
    assert not [t for t in stored if t.state == TrialState.RUNNING]
    for t in stored:
        kind = BAD_KINDS[t.number % len(BAD_KINDS)]
        if kind == "ok":
            assert t.state == TrialState.COMPLETE and math.isfinite(t.value)
            continue
        assert t.state == TrialState.FAIL, (kind, t.state)
        reason = t.user_attrs[attrs.FAIL_REASON]
        words, shown = EXPECTED[kind]
        assert words in reason and shown in reason and "at step 2" in reason, reason
        assert t.user_attrs[attrs.STEP] == 2
    best = optuna.load_study(study_name=name, storage=url).best_trial
    assert BAD_KINDS[best.number % len(BAD_KINDS)] == "ok" and math.isfinite(best.value)
    assert result.best_value == best.value


def _space(tmp_path: Path) -> Path:
    # Each kind twice in 10 trials (the trainable picks it by trial number).
    return write_space(tmp_path, "rel05", "bad_objective",
                       "  x: {type: float, low: 0.1, high: 1.0}\n", trials=10, max_steps=3)


def test_bad_values_fail_with_reason_on_sqlite(tmp_path: Path, sqlite_url: str) -> None:
    _check(sqlite_url, "rel05", _space(tmp_path))


@pytest.mark.postgres
def test_bad_values_fail_with_reason_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    name = f"rel05-{int(time.time() * 1000)}"
    try:
        _check(postgres_url, name, _space(tmp_path))
    finally:
        optuna.delete_study(study_name=name, storage=postgres_url)
