"""``hpo train`` for LoRA (merged and as a peft adapter) and for the image trainable.

The bundles are written by hand here (as a user's pipeline could) with the identity the
trainable reports, so each test trains once on a few dozen examples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.shipping.bundle import FORMAT
from hpo.shipping.train import train_bundle

pytestmark = pytest.mark.slow

TEXT_DATA = {"source": "rotten_tomatoes", "train_size": 40, "validation_size": 24,
             "test_size": 40, "seed": 0}
LORA = {"strategy": "lora", "lora_rank": 4, "learning_rate": 1e-3, "batch_size": 16,
        "epochs": 1, "evals_per_epoch": 1, "max_length": 24}


def _bundle(tmp_path: Path, trainable: str, config: dict[str, Any], model: dict[str, Any],
            data: dict[str, Any]) -> Path:
    from hpo.trainables import resolve_trainable

    ident = resolve_trainable(trainable).describe(model, data)  # type: ignore[attr-defined]
    doc = {"format": FORMAT, "trainable": trainable, "config": config, "model": model,
           "data": data, "objective": {"metric": "accuracy", "direction": "maximize"},
           "seed": 3, "provenance": {"study": "by-hand", "model_identity": ident["model"],
                                     "data_identity": ident["data"]},
           "scores": {"search": None, "robust": None, "test": None}}
    path = tmp_path / f"{trainable}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _text_accuracy(model: Any, folder: Path) -> float:
    import torch
    from transformers import AutoTokenizer

    from hpo.data import load_text_data

    tok = AutoTokenizer.from_pretrained(folder)
    test = load_text_data(TEXT_DATA)[0]["test"]
    enc = tok(list(test["text"]), truncation=True, max_length=24, padding=True,
              return_tensors="pt")
    with torch.inference_mode():
        pred = model.eval()(**enc).logits.argmax(-1)
    return float((pred == torch.tensor(test["label"])).float().mean())


def test_lora_merged_and_as_an_adapter(tmp_path: Path) -> None:
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoModelForSequenceClassification

    bundle = _bundle(tmp_path, "text_classification", LORA, {"name_or_path": "minilm-l6"},
                     TEXT_DATA)
    merged = train_bundle(bundle, tmp_path / "merged", progress=False, threads=1)
    adapter = train_bundle(bundle, tmp_path / "adapter", lora="adapter", progress=False,
                           threads=1)
    assert "adapter_config.json" not in merged["model_files"]
    assert "adapter_config.json" in adapter["model_files"]
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged")
    assert not any("lora_" in name for name, _ in plain.named_parameters())
    assert plain.config.id2label == {0: "rotten", 1: "fresh"}
    assert _text_accuracy(plain, tmp_path / "merged") == pytest.approx(
        merged["test"]["accuracy"])
    peft_model = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "adapter")
    assert _text_accuracy(peft_model, tmp_path / "adapter") == pytest.approx(
        adapter["test"]["accuracy"])
    # Same config, seed and threads: merging changes how the weights are stored, not the model.
    assert merged["test"]["accuracy"] == pytest.approx(adapter["test"]["accuracy"])


def test_image_model_saves_and_loads_with_its_own_loader(tmp_path: Path) -> None:
    import torch

    from hpo.data import load_image_data
    from hpo.trainables.image import IMAGENET_MEAN, IMAGENET_STD, _split_tensors, load_trained

    data = {"source": "mnist_5k", "train_size": 40, "validation_size": 20, "test_size": 30,
            "seed": 0}
    config = {"image_size": 32, "batch_size": 16, "epochs": 1, "evals_per_epoch": 1,
              "learning_rate": 1e-3}
    try:
        bundle = _bundle(tmp_path, "image_classification", config,
                         {"name_or_path": "efficientnet-lite0"}, data)
    except FileNotFoundError as exc:
        pytest.skip(f"image assets missing: {exc}")
    metrics = train_bundle(bundle, tmp_path / "img", progress=False, threads=1)
    folder = tmp_path / "img"
    assert json.loads((folder / "preprocessor_config.json").read_text())["size"] == {
        "height": 32, "width": 32}
    net = load_trained(str(folder))
    images, labels = _split_tensors(load_image_data(data)[0]["test"], 32)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        pred = net((images - mean) / std).argmax(-1)
    assert float((pred == labels).float().mean()) == pytest.approx(metrics["test"]["accuracy"])
