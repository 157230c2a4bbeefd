"""What hpo show says about the rung check: a move of the first rung with the correlation
that caused it, and the latest check when the rungs predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution

from hpo.execution._rung_check import FirstRung
from hpo.results._rung_notes import rung_lines
from hpo.storage import attrs


def _record(curves: list[list[float]], rungs: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """The record the scheduler stores once these trials (one curve each) finished."""
    first = FirstRung(rungs, max_t=len(curves[0]))
    news = None
    for i, curve in enumerate(curves):
        history = [(float(k + 1), v) for k, v in enumerate(curve)]
        news = first.finished(f"t{i}", history, now=1_700_000_000.0 + i) or news
    assert news is not None
    return news[0]


# Rung 1 reversed (slow starters finish best), rung 2 ranks as the end does.
SLOW = [[0.6 - 0.02 * i, 0.5 + 0.03 * i, 0.6 + 0.03 * i] for i in range(6)]
STEADY = [[0.5 + 0.05 * i, 0.6 + 0.05 * i, 0.7 + 0.05 * i] for i in range(6)]


def test_a_move_says_from_where_to_where_and_why() -> None:
    moved, check = rung_lines({attrs.RUNGS: _record(SLOW)})
    assert moved == ("first rung moved from step 1 to step 2 after 5 finished trials: the "
                     "ranking at step 1 predicted the final ranking (step 3) with rank "
                     "correlation -1.00 over 5 trials (threshold 0.5)")
    assert check.startswith("rung check after 6 finished trials, rank correlation with the "
                            "final ranking (threshold 0.5, early stops from step 2): ")
    assert "step 1 -1.00 over 6 trials, not predictive; step 2 1.00 over 6 trials" in check


def test_predictive_rungs_get_one_short_line() -> None:
    (line,) = rung_lines({attrs.RUNGS: _record(STEADY)})
    assert line == ("rung check after 6 finished trials, rank correlation with the final "
                    "ranking (threshold 0.5, early stops from step 1): step 1 1.00 over 6 "
                    "trials; step 2 1.00 over 6 trials")


def test_no_rung_predicts_and_nothing_stops_early() -> None:
    curves = [[0.6 - 0.02 * i, 0.6 - 0.02 * i, 0.5 + 0.03 * i] for i in range(6)]
    moved, check = rung_lines({attrs.RUNGS: _record(curves)})
    assert moved.startswith("first rung moved from step 1 to step 3 after 5 finished trials "
                            "(the last step: no trial is stopped early any more): ")
    assert "the ranking at step 2 predicted the final ranking" in moved
    assert "(threshold 0.5, no early stops)" in check


def test_nothing_judged_nothing_said() -> None:
    assert rung_lines({}) == []
    record = _record(STEADY)
    record["checked"]["fits"] = [{"rung": 1, "against": None, "pairs": 2, "rho": None,
                                  "verdict": "undecided"}]
    assert rung_lines({attrs.RUNGS: record}) == []


def test_hpo_show_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import main

    url = f"sqlite:///{tmp_path / 'rungs.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="rungs", storage=url, direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, value=0.75))
    study.set_user_attr(attrs.RUNGS, _record(SLOW))
    assert main(["show", "rungs", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "\nfirst rung moved from step 1 to step 2 after 5 finished trials: the ranking " \
           "at step 1 predicted the final ranking (step 3) with rank correlation -1.00" in out
    assert "rung check after 6 finished trials" in out


def test_hpo_run_ends_with_them(tmp_path: Path) -> None:
    """The closing lines of ``hpo run`` carry the same words as ``hpo show``, plus the edge
    hint when the best trial sits at a bound."""
    from hpo.cli._search import _closing_hints

    url = f"sqlite:///{tmp_path / 'rungs.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"x": 0.999}, distributions={"x": FloatDistribution(0, 1)}, value=0.75))
    assert not any("rung " in line for line in _closing_hints(url, "s"))
    study.set_user_attr(attrs.RUNGS, _record(SLOW))
    moved, check, *edges = _closing_hints(url, "s")
    assert moved.startswith("  first rung moved from step 1 to step 2 after 5 finished trials")
    assert check.startswith("  rung check after 6 finished trials")
    assert any("x" in line and "upper" in line for line in edges), edges
