"""Tests for parameter groups, optimisers, schedules and the loss."""

from __future__ import annotations

import itertools

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from hpo.finetune import (
    apply_strategy,
    build_loss,
    build_optimizer,
    build_param_groups,
    build_scheduler,
)


def tiny_bert(layers: int = 3) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config)


def rates(groups: list[dict[str, object]]) -> dict[str, float]:
    """Learning rate per group key, e.g. ``"layer_2"``; decay and no-decay must agree."""
    out: dict[str, float] = {}
    for group in groups:
        key = str(group["name"]).split("/")[0]
        assert out.setdefault(key, float(group["lr"])) == group["lr"]  # type: ignore[arg-type]
    return out


def test_layer_decay_lowers_rates_towards_the_input() -> None:
    groups = build_param_groups(tiny_bert(), 1e-3, 0.01, layer_decay=0.8, head_lr=5e-3)
    lr = rates(groups)
    order = ["embeddings", "layer_1", "layer_2", "layer_3"]
    assert all(lr[a] < lr[b] for a, b in itertools.pairwise(order))
    assert lr["layer_3"] == lr["top"] == pytest.approx(1e-3)
    assert lr["layer_1"] == pytest.approx(1e-3 * 0.8**2)
    assert lr["embeddings"] == pytest.approx(1e-3 * 0.8**3)
    assert lr["head"] == 5e-3


def test_every_trainable_parameter_is_in_exactly_one_group() -> None:
    model = tiny_bert()
    groups = build_param_groups(model, 1e-3, 0.01, layer_decay=0.9, head_lr=1e-2)
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())


def test_no_weight_decay_on_bias_and_layer_norm() -> None:
    model = tiny_bert()
    names = {id(p): n for n, p in model.named_parameters()}
    for group in build_param_groups(model, 1e-3, 0.05):
        for param in group["params"]:
            name = names[id(param)]
            exempt = name.endswith(".bias") or "LayerNorm" in name
            assert group["weight_decay"] == (0.0 if exempt else 0.05), name


def test_without_decay_everything_gets_lr() -> None:
    groups = build_param_groups(tiny_bert(), 2e-5, 0.0)
    assert {g["lr"] for g in groups} == {2e-5}
    assert {g["name"] for g in groups} == {"all/decay", "all/no_decay"}


def test_frozen_parameters_are_left_out() -> None:
    model = apply_strategy(tiny_bert(), "linear_probe")
    groups = build_param_groups(model, 1e-3, 0.01, layer_decay=0.5, head_lr=1e-2)
    assert {g["name"] for g in groups} == {"head/decay", "head/no_decay"}


# peft calls a transformers method that transformers 5 marks as deprecated.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_groups_work_with_lora_models() -> None:
    model = apply_strategy(tiny_bert(), "lora")
    lr = rates(build_param_groups(model, 1e-3, 0.01, layer_decay=0.5, head_lr=1e-2))
    assert lr["layer_1"] < lr["layer_2"] < lr["layer_3"] and lr["head"] == 1e-2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
    ({"weight_decay": -0.1}, "got -0.1"),
    ({"layer_decay": 1.5}, "layer_decay must be in (0, 1], got 1.5"),
    ({"head_lr": -1.0}, "head_lr must be a finite number > 0, got -1.0"),
])
def test_param_group_validation(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"lr": 1e-3, "weight_decay": 0.0} | kwargs
    with pytest.raises(ValueError) as info:
        build_param_groups(tiny_bert(1), **args)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.parametrize(("name", "cls"), [("adamw", torch.optim.AdamW),
                                           ("adam", torch.optim.Adam),
                                           ("sgd", torch.optim.SGD)])
def test_build_optimizer_keeps_group_rates(name: str, cls: type) -> None:
    groups = build_param_groups(tiny_bert(1), 1e-3, 0.01, layer_decay=0.5)
    optimizer = build_optimizer(name, groups)
    assert isinstance(optimizer, cls)
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in groups]
    assert [g["weight_decay"] for g in optimizer.param_groups] == \
        [g["weight_decay"] for g in groups]


def test_build_optimizer_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="got 'lion'"):
        build_optimizer("lion", build_param_groups(tiny_bert(1), 1e-3, 0.0))


def lr_trace(name: str, steps: int = 10, warmup: int = 2) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer("sgd", [{"params": [param], "lr": 1.0}])
    scheduler = build_scheduler(name, optimizer, warmup, steps)
    trace = []
    for _ in range(steps):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace


def test_schedules() -> None:
    linear, cosine, constant = lr_trace("linear"), lr_trace("cosine"), lr_trace("constant")
    for trace in (linear, cosine, constant):
        assert trace[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert linear[3:] == pytest.approx([7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])
    assert all(a > b for a, b in itertools.pairwise(cosine[2:]))
    assert constant[2:] == [1.0] * 8


@pytest.mark.parametrize(("args", "message"), [
    (("step", 0, 10), "got 'step'"),
    (("linear", 11, 10), "warmup_steps must be an int in [0, total_steps=10], got 11"),
    (("cosine", 0, 0), "total_steps must be an int >= 1, got 0"),
])
def test_scheduler_validation(args: tuple[str, int, int], message: str) -> None:
    optimizer = build_optimizer("sgd", [{"params": [torch.nn.Parameter(torch.zeros(1))],
                                         "lr": 1.0}])
    with pytest.raises(ValueError) as info:
        build_scheduler(args[0], optimizer, args[1], args[2])
    assert message in str(info.value)


def test_build_loss() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    plain, smooth = build_loss(), build_loss(0.1)
    assert smooth.label_smoothing == 0.1
    hard = torch.tensor([0, 1])
    assert float(smooth(logits, hard)) > float(plain(logits, hard))
    soft = torch.nn.functional.one_hot(hard, 2).float()
    assert torch.allclose(plain(logits, soft), plain(logits, hard))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\), got 1\.0"):
        build_loss(1.0)
