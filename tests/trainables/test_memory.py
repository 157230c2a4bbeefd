"""The peak-memory estimator: exact parameter arithmetic, and saved activations predicted
from two small probes, checked against what autograd saves at larger batches for a toy
model, MiniLM-L6 and EfficientNet-Lite0 (on the CPU: the same tensors of the same
dtypes are saved there as on a GPU)."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.trainables import _memory
from hpo.trainables._device import Placement

torch = pytest.importorskip("torch")


def _mlp() -> Any:
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))


def _mlp_loss(model: Any, batch: int) -> Any:
    x = torch.randn(batch, 32)
    return torch.nn.functional.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long))


def test_parameter_bytes_follow_what_trains_and_the_optimizer() -> None:
    model = _mlp()
    n = sum(p.numel() for p in model.parameters())
    assert _memory.parameter_bytes(model, "adamw") == (4 * n, 4 * n, 8 * n)
    assert _memory.parameter_bytes(model, "sgd", momentum=0.9) == (4 * n, 4 * n, 4 * n)
    assert _memory.parameter_bytes(model, "sgd", momentum=0.0) == (4 * n, 4 * n, 0)
    for p in model[0].parameters():  # freeze the first layer
        p.requires_grad_(False)
    head = sum(p.numel() for p in model[2].parameters())
    assert _memory.parameter_bytes(model, "adam") == (4 * n, 4 * head, 8 * head)
    with pytest.raises(ValueError, match="optimizer: 'lion' has no known state size"):
        _memory.parameter_bytes(model, "lion")


def test_saved_activations_are_linear_in_the_batch_and_exclude_weights() -> None:
    model = _mlp()
    line = _memory.probe_activations(model, _mlp_loss)
    for batch in (8, 32, 100):
        measured = _memory.saved_activation_bytes(model, lambda m, b=batch: _mlp_loss(m, b))
        assert line.at(batch) == pytest.approx(measured, rel=0.01), batch
    # Per example, fp32: the input (32, saved by the first layer), the ReLU output (64,
    # saved by ReLU and by the second layer: one storage, counted once) and the
    # log-softmax of the 4 logits (saved by the loss).
    assert line.per_example == pytest.approx(4 * (32 + 64 + 4), rel=0.05)


def test_autocast_saves_narrower_activations() -> None:
    model = _mlp()
    fp32 = _memory.probe_activations(model, _mlp_loss)
    bf16 = _memory.probe_activations(model, _mlp_loss, Placement("cpu", "bf16").autocast())
    assert bf16.per_example < 0.8 * fp32.per_example


def test_refine_scales_by_the_median_measured_ratio() -> None:
    assert _memory.refine(1000, []) == 1000
    assert _memory.refine(1000, [(100, 150), (200, 300), (100, 900)]) == 1500


@pytest.mark.parametrize(("peak", "requested", "expected"), [
    (1 * 2**30, 0.0, 0.125),     # 1 GiB + 10 % of 16 GiB -> 0.069 -> 2/16
    (1 * 2**30, 0.25, 0.25),     # the space's own share when it is larger
    (20 * 2**30, 0.0, 1.0),      # never more than one GPU
    (0, 0.0, 0.0),
])
def test_gpu_fraction(peak: int, requested: float, expected: float) -> None:
    assert _memory.gpu_fraction(peak, 16 * 2**30, requested) == expected


def test_gpu_fraction_needs_a_memory_size() -> None:
    with pytest.raises(ValueError, match="gpu_memory_bytes must be > 0"):
        _memory.gpu_fraction(1, 0)


def _minilm(strategy: str) -> tuple[Any, Any]:
    pytest.importorskip("transformers")
    from transformers import AutoModelForSequenceClassification

    from hpo.finetune import LoraSettings, apply_strategy
    from hpo.trainables._models import resolve_model

    path = resolve_model("minilm-l6")
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    lora = LoraSettings(rank=8, alpha=16, dropout=0.0, target_modules=("query", "value"))
    model = apply_strategy(model, strategy, lora=lora if strategy == "lora" else None)
    model.train()

    def loss(m: Any, batch: int, length: int = 64) -> Any:
        ids = torch.randint(0, 1000, (batch, length))
        out = m(input_ids=ids, attention_mask=torch.ones_like(ids))
        return torch.nn.functional.cross_entropy(out.logits, torch.zeros(batch, dtype=torch.long))

    return model, loss


@pytest.mark.slow
# peft asks transformers a deprecated question when it wraps the model; nothing of hpo's.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_minilm_estimate_against_measured_batches(strategy: str) -> None:
    model, loss = _minilm(strategy)
    line = _memory.probe_activations(model, loss)
    for batch in (8, 16, 32):
        measured = _memory.saved_activation_bytes(model, lambda m, b=batch: loss(m, b))
        assert line.at(batch) == pytest.approx(measured, rel=0.05), (strategy, batch)
    est = _memory.estimate(model, line, 32)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert est.weights == 4 * total and est.optimizer == 8 * trainable
    if strategy == "lora":  # LoRA trains well under 2 % of MiniLM's 22.7 M weights
        assert trainable < 0.02 * total


@pytest.mark.slow
def test_efficientnet_estimate_against_measured_batches() -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    from hpo.trainables._efficientnet import build_efficientnet_lite0

    model = build_efficientnet_lite0(10, 64, 0)
    model.train()

    def loss(m: Any, batch: int) -> Any:
        logits = m(torch.randn(batch, 3, 64, 64))
        return torch.nn.functional.cross_entropy(logits, torch.zeros(batch, dtype=torch.long))

    line = _memory.probe_activations(model, loss)
    for batch in (8, 16, 32):
        measured = _memory.saved_activation_bytes(model, lambda m, b=batch: loss(m, b))
        assert line.at(batch) == pytest.approx(measured, rel=0.05), batch
    # Batch-norm and depthwise convolutions save much per pixel: activations, not the
    # 4.7 M weights, dominate at batch 32 even at 64 x 64 pixels.
    assert line.at(32) > _memory.estimate(model, line, 32).weights
