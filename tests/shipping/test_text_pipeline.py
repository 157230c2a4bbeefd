"""The real text trainable on a tiny subset: search, finalize, export, train, load, refuse.

MiniLM-L6 on 48 Rotten Tomatoes snippets: every path of shipping a config, asserted on
what the store, the bundle and the saved model folder hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.shipping import keys

pytestmark = pytest.mark.slow

SPACE = """\
name: ship-text
trainable: text_classification
model: {name_or_path: minilm-l6}
data: {source: rotten_tomatoes, train_size: 48, validation_size: 32, test_size: 64, seed: 0}
objective: {metric: accuracy, direction: maximize}
sampler: {name: random, options: {seed: 1}}
scheduler: {name: fifo}
budget: {trials: 2, max_steps: 1}
concurrency: 2
resources: {cpu: 1}
params:
  learning_rate: {type: float, low: 1.0e-4, high: 6.0e-4, log: true}
  batch_size: 16
  epochs: 1
  evals_per_epoch: 1
  max_length: 24
"""


def _hpo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "hpo", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def _accuracy_of_saved_model(folder: Path, data: dict) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hpo.data import load_text_data

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    test = load_text_data(data)[0]["test"]
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(test), 16):
            rows = test[start:start + 16]
            enc = tok(rows["text"], truncation=True, max_length=24, padding=True,
                      return_tensors="pt")
            pred = model(**enc).logits.argmax(-1)
            correct += int((pred == torch.tensor(rows["label"])).sum())
    return correct / len(test)


def test_search_finalize_export_train_and_load(ray_cluster: None, tmp_path: Path,
                                               sqlite_url: str) -> None:
    from hpo.execution import run_search
    from hpo.shipping.bundle import export, read_bundle
    from hpo.shipping.finalize import finalize
    from hpo.shipping.train import BundleMismatch, train_bundle
    from hpo.spaces import load_space

    space = tmp_path / "ship_text.yaml"
    space.write_text(textwrap.dedent(SPACE))
    run_search(load_space(space), study_name="ship-text", storage=sqlite_url,
               progress=False, score_test=False)

    result = finalize("ship-text", storage=sqlite_url, top_k=2, seeds=2, selection_size=40,
                      progress=False)
    assert result.selection == {"kind": "carved", "size": 40, "source": None}
    fin = optuna.load_study(study_name="ship-text-finalize", storage=sqlite_url)
    # The finalize study scored on the selection split: its data identity says so.
    fin_data = fin.user_attrs["hpo:data"]
    assert fin_data["sizes"]["selection"] == 40
    assert "selection from the unused training pool" in fin_data["made"]
    search = optuna.load_study(study_name="ship-text", storage=sqlite_url)
    # ...and trained on exactly the search's training split.
    assert fin_data["fingerprints"]["train"] == search.user_attrs["hpo:data"]["fingerprints"][
        "train"]
    for cand in result.candidates:
        assert cand.interval is not None and cand.interval.n == 2
        assert all(0.0 <= s <= 1.0 for s in cand.scores)

    bundle_yaml = tmp_path / "best.yaml"
    bundle = export("ship-text", bundle_yaml, storage=sqlite_url)
    as_json = export("ship-text", tmp_path / "best.json", storage=sqlite_url)
    assert read_bundle(tmp_path / "best.json")["config"] == read_bundle(bundle_yaml)["config"]
    assert as_json["provenance"]["trial"] == bundle["provenance"]["trial"] == result.picked.trial
    prov = bundle["provenance"]
    assert prov["space"]["fingerprint"] == search.user_attrs["hpo:fingerprint"]
    assert prov["data_identity"]["sizes"] == {"train": 48, "validation": 32, "test": 64}
    assert prov["model_identity"]["files"]
    robust = bundle["scores"]["robust"]
    assert robust["mean"] == pytest.approx(result.picked.interval.mean)
    assert robust["optimism"] == pytest.approx(result.optimism)
    assert search.user_attrs[keys.EXPORT]["format"] == "json"  # the latest export

    out = tmp_path / "model"
    metrics = train_bundle(bundle_yaml, out, progress=False, threads=1)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert yaml.safe_load((out / "bundle.yaml").read_text())["config"] == bundle["config"]
    assert metrics["test"]["examples"] == 64
    # The saved folder loads with from_pretrained and scores what metrics.json says.
    assert _accuracy_of_saved_model(out, bundle["data"]) == pytest.approx(
        metrics["test"]["accuracy"])

    # The same bundle over changed data (another split seed) is refused, naming the change.
    changed = yaml.safe_load(bundle_yaml.read_text())
    changed["data"]["seed"] = 1
    changed_path = tmp_path / "changed.yaml"
    changed_path.write_text(yaml.safe_dump(changed))
    with pytest.raises(BundleMismatch, match=r"data split test: fingerprint '\w+' -> '\w+'"):
        train_bundle(changed_path, tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused").exists()
    cli = _hpo("train", str(changed_path), "--out", str(tmp_path / "refused"), "--quiet")
    assert cli.returncode == 3 and "data split train: fingerprint" in cli.stderr
    forced = _hpo("train", str(changed_path), "--out", str(tmp_path / "forced"), "--force",
                  "--full-data", "--threads", "1")
    assert forced.returncode == 0, forced.stderr
    assert "hpo train: evaluation 1/1" in forced.stderr  # progress while it trains
    saved = json.loads((tmp_path / "forced" / "metrics.json").read_text())
    assert saved["forced"] and any("fingerprint" in c for c in saved["identity_changes"])
    assert saved["data_sizes"]["train"] == 48 + 32  # train + validation
