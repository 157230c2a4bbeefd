"""The test-split retrain after a search: every CPU the driver may use, unless fixed."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from hpo.execution import _placement
from hpo.execution._test_score import score_best
from hpo.spaces import parse_space
from hpo.storage import attrs
from hpo.trainables import _base

SPACE = """\
trainable: synthetic
objective: {metric: score}
resources: {cpu: 1}
params:
  x: {type: float, low: 0, high: 1}
"""


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"x": 0.5}, distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
        value=0.9, user_attrs={attrs.BEST_STEP: 2}))
    return study


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def scorer(config: dict[str, Any], model: Any, data: Any, **kw: Any) -> dict[str, float]:
        calls.append({"config": config, **kw})
        return {"accuracy": 0.5}

    monkeypatch.setattr(_base, "score_test_of", lambda trainable: scorer)
    monkeypatch.setattr(_placement, "usable_cpus", lambda: 3)
    return calls


def test_retrain_takes_every_usable_cpu_not_the_trials_share(
        seen: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    study = _study()
    record = score_best(parse_space(SPACE), object(), study, progress=True)
    assert [c["threads"] for c in seen] == [3] and seen[0]["step"] == 2
    assert record is not None and record["threads"] == 3
    assert study.user_attrs[attrs.TEST] == record
    assert "up to step 2 on 3 thread(s)" in capsys.readouterr().err


def test_threads_the_space_fixes_are_kept(seen: list[dict[str, Any]]) -> None:
    spec = parse_space(SPACE + "  threads: 1\n")
    record = score_best(spec, object(), _study(), progress=False)
    assert [c["threads"] for c in seen] == [1] and seen[0]["config"]["threads"] == 1
    assert record is not None and record["threads"] == 1
