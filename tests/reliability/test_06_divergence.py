"""RELIABILITY 6: NaN or exploding loss mid-trial.

Pass: a diverged trial is stopped at the step its loss left the bound (at the next
rung at the latest), even when most trials diverge, and never becomes the best.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution import run_search
from hpo.spaces import load_space
from hpo.storage import attrs
from tests.reliability._support import trials, write_space
from tests.reliability._trainables import DIVERGING_KINDS

pytestmark = pytest.mark.usefixtures("ray_cluster")

PARAMS = "  x: {type: float, low: 0.1, high: 1.0}\n  steps: 8\n"


def _kind(t: optuna.trial.FrozenTrial) -> str:
    return DIVERGING_KINDS[t.number % len(DIVERGING_KINDS)]


def _run(tmp_path: Path, url: str, divergence: str) -> list[optuna.trial.FrozenTrial]:
    space = write_space(tmp_path, "rel06", "diverging", PARAMS, trials=10, max_steps=8,
                        scheduler="{name: asha, options: {grace_period: 2}}",
                        sampler="{name: random, options: {seed: 5}}", extra=divergence)
    run_search(load_space(space), storage=url, progress=False, score_test=False)
    return trials(url, "rel06")


def test_diverged_trials_stop_at_once_and_never_win(tmp_path: Path, sqlite_url: str) -> None:
    stored = _run(tmp_path, sqlite_url, "divergence: {metric: loss, max_ratio: 10}\n")
    assert not [t for t in stored if t.state == TrialState.RUNNING]
    kinds = [_kind(t) for t in stored]
    assert kinds.count("stable") < len(kinds) / 2 and "stable" in kinds
    for t in stored:
        kind = _kind(t)
        if kind == "stable":
            assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            continue
        assert t.state == TrialState.PRUNED, (kind, t.state)
        stop = t.user_attrs[attrs.STOP]
        assert stop["by"] == "divergence"
        # explodes: loss 1, 100 (> 10x its start): stopped at step 2; nan: at step 3
        expected = 2 if kind == "explodes" else 3
        assert stop["rung"] == t.user_attrs[attrs.STEP] == expected, stop
        assert "diverged" in stop["reason"] or "not a finite" in stop["reason"]
    best = optuna.load_study(study_name="rel06", storage=sqlite_url).best_trial
    assert _kind(best) == "stable"


def test_without_the_rule_a_diverged_trial_wins(tmp_path: Path, sqlite_url: str) -> None:
    # The failure the rule fixes, shown on the same population: ASHA lets the diverged
    # trials through on their early scores and one becomes the best.
    stored = _run(tmp_path, sqlite_url, "")
    best = max((t for t in stored if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert _kind(best) != "stable"
