"""A real search: MiniLM-L6 fine-tuned on a tiny Rotten Tomatoes subset, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import attrs

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

SPACE = """\
name: e2e-text
trainable: text_classification
model: {name_or_path: minilm-l6}
data: {source: rotten_tomatoes, train_size: 96, validation_size: 64, test_size: 64, seed: 0}
objective: {metric: accuracy, direction: maximize}
sampler: {name: tpe, options: {n_startup_trials: 2, seed: 0}}
scheduler: {name: asha, options: {grace_period: 1, reduction_factor: 2}}
budget: {trials: 4, max_steps: 2}
concurrency: 2
params:
  learning_rate: {type: float, low: 1.0e-5, high: 3.0e-4, log: true}
  batch_size: [16, 32]
  lr_schedule: [linear, cosine]
  epochs: 1
  evals_per_epoch: 2
"""


def test_real_minilm_search_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    space = tmp_path / "e2e.yaml"
    space.write_text(SPACE)
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-m", "hpo", "run", str(space), "--storage", url],
        cwd=tmp_path, env=env, text=True, capture_output=True, timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "trials 4/4 done" in res.stderr  # the live progress line
    assert "Trial status" not in res.stdout + res.stderr  # no Ray progress tables
    assert "it/s]" not in res.stderr and "examples/s]" not in res.stderr  # no tqdm bars
    assert "test split (64 examples, never seen during the search)" in res.stdout

    study = optuna.load_study(study_name="e2e-text", storage=url)
    trials = study.trials
    assert len(trials) == 4
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for t in trials:
        history = attrs.metrics_history(t.user_attrs)
        assert history, "every trial reports its metrics"
        for step, metrics in history:
            assert 0.0 <= metrics["accuracy"] <= 1.0
            assert metrics["eval_loss"] > 0 and metrics["train_loss"] > 0
            assert t.intermediate_values[step] == metrics["accuracy"]
    data = study.user_attrs[attrs.DATA]
    assert data["source"] == "rotten_tomatoes" and data["train_size"] == 96
    assert data["sizes"] == {"train": 96, "validation": 64, "test": 64}
    assert data["labels"] == ["rotten", "fresh"]
    model = study.user_attrs[attrs.MODEL]
    assert model["name_or_path"] == "minilm-l6" and "model.safetensors" in model["files"]

    best = subprocess.run([sys.executable, "-m", "hpo", "best", "e2e-text", "--storage", url,
                           "--format", "json"], env=env, text=True, capture_output=True)
    shown = json.loads(best.stdout)
    config = shown["config"]
    assert config["epochs"] == 1 and 1e-5 <= config["learning_rate"] <= 3e-4
    test = study.user_attrs[attrs.TEST]
    assert shown["test"] == test and test["trial"] == study.best_trial.number
    assert test["step"] == study.best_trial.user_attrs[attrs.BEST_STEP]
    assert 0.0 <= test["metrics"]["accuracy"] <= 1.0 and test["metrics"]["examples"] == 64
    # Same config and seed: the retrain reproduces the trial's score, on every usable CPU
    # where the trial had its half (two at once).
    from hpo.execution._placement import usable_cpus

    assert test["threads"] == usable_cpus()
    assert test["metrics"]["validation_accuracy"] == study.best_trial.value
