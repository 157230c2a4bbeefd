"""Every shipped search space runs end to end through ``run_search`` on a tiny subset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.spaces import load_space
from hpo.spaces._params import FixedParam
from hpo.storage import attrs

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]
ROOT = Path(__file__).resolve().parents[2]
SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))
# Tiny sizes per data source: enough for a stratified split of every class.
TINY_DATA = {
    "rotten_tomatoes": {"train_size": 24, "validation_size": 16, "test_size": 16},
    "fashion_mnist": {"train_size": 20, "validation_size": 20},
}
TINY_FIXED = {"epochs": 1, "evals_per_epoch": 1, "image_size": 32, "max_length": 24,
              "batch_size": 8}


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_shipped_space_runs(path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.execution import run_search

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = load_space(path)
    data = dict(spec.data)
    data.update(TINY_DATA.get(str(data.get("source")), {}))
    params = tuple(
        dataclasses.replace(p, value=TINY_FIXED[p.name])
        if isinstance(p, FixedParam) and p.name in TINY_FIXED else p
        for p in spec.params)
    tiny = dataclasses.replace(
        spec, data=data, params=params,
        budget=dataclasses.replace(spec.budget, trials=2, time_s=None, max_steps=1),
        scheduler=dataclasses.replace(spec.scheduler, name="fifo", options={}))
    result = run_search(tiny, storage=sqlite_url, progress=False)
    assert result.failed == 0 and result.complete == 2, result

    study = optuna.load_study(study_name=result.study_name, storage=sqlite_url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    if spec.trainable != "text_classification" and spec.trainable != "image_classification":
        return
    for trial in study.trials:
        assert 0.0 <= trial.value <= 1.0
    # The best trial was retrained and scored once on the held-out test split.
    test = study.user_attrs[attrs.TEST]
    assert test == result.test and test["trial"] == study.best_trial.number
    assert 0.0 <= test["metrics"]["accuracy"] <= 1.0
    # fashion_mnist keeps its own 10,000-image test split; rotten_tomatoes gets one cut.
    assert test["metrics"]["examples"] == study.user_attrs[attrs.DATA]["sizes"]["test"]
