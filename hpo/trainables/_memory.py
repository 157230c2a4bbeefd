"""A trial's peak GPU memory, estimated before it starts, refined by what earlier trials used.

Peak memory of fine-tuning is, to a good approximation, the sum of

- **weights**: every parameter in fp32 (autocast keeps fp32 master weights), 4 bytes each;
- **gradients**: 4 bytes per *trainable* parameter (LoRA and frozen layers need few);
- **optimiser state**: AdamW/Adam keep two fp32 moments (8 bytes per trainable
  parameter), SGD with momentum one (4), plain SGD none;
- **activations**: the tensors autograd saves for the backward pass. They grow with the
  batch (and with the sequence length for text) and shrink under bf16/fp16 autocast and
  with frozen layers (nothing is saved below the first trainable layer). No formula
  covers every architecture, so they are *measured*: a probe runs the model's forward
  pass on the CPU at two small batch sizes with autograd's saved-tensor hooks counting
  the bytes saved, and the line through the two points gives any batch size. The
  arithmetic is the same on the CPU as on a GPU: the same tensors of the same dtypes
  are saved.
- a **margin** for the CUDA context, allocator rounding and kernel workspaces, which no
  probe sees; :func:`refine` scales estimates by what earlier trials of the study
  measured (``torch.cuda.max_memory_allocated``) against what was estimated for them.

:func:`gpu_fraction` turns an estimate into the share of a GPU a trial asks Ray for, so
Ray's own fractional-GPU accounting never places trials on a GPU whose memory they
would exceed together: a trial that does not fit waits, or runs on a GPU where it fits.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Optimiser state bytes per trainable fp32 parameter.
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adam": 8, "sgd": 4, "sgd_plain": 0}
#: Fixed allowance for the CUDA context and allocator (about what torch takes at start).
DEFAULT_MARGIN_BYTES = 512 * 2**20
#: Ray rounds fractional GPU requests; hpo asks in steps of 1/16 of a GPU.
FRACTION_STEP = 1 / 16


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of one trial, by part (see the module docstring)."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    margin: int = DEFAULT_MARGIN_BYTES

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.margin

    def as_dict(self) -> dict[str, int]:
        return {"weights": self.weights, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations,
                "margin": self.margin, "total": self.total}


def parameter_bytes(model: Any, optimizer: str = "adamw",
                    momentum: float = 0.9) -> tuple[int, int, int]:
    """Weights, gradients and optimiser-state bytes of ``model`` (a ``torch.nn.Module``).

    Raises:
        ValueError: an optimiser whose state size is not known.
    """
    key = "sgd_plain" if optimizer == "sgd" and not momentum else optimizer
    if key not in OPTIMIZER_STATE_BYTES:
        raise ValueError(f"optimizer: {optimizer!r} has no known state size; known: "
                         f"{', '.join(k for k in OPTIMIZER_STATE_BYTES if k != 'sgd_plain')}")
    weights = trainable = 0
    for p in model.parameters():
        weights += p.numel() * 4
        if p.requires_grad:
            trainable += p.numel()
    return weights, trainable * 4, trainable * OPTIMIZER_STATE_BYTES[key]


def saved_activation_bytes(model: Any, forward: Callable[[Any], Any],
                           autocast: Any = None) -> int:
    """Bytes autograd saves for the backward pass of one ``forward(model)`` call.

    Each storage counts once (views share one); the model's own parameters do not
    count (they are weights), while autocast's low-precision copies of them do.

    Args:
        model: the model, in training mode, with ``requires_grad`` as the trial sets it.
        forward: runs the forward pass and returns the loss (or any output).
        autocast: a context manager to run it under (e.g. :meth:`Placement.autocast`).
    """
    import contextlib

    import torch

    own = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Any) -> Any:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in own and ptr not in seen:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            (autocast or contextlib.nullcontext()):
        out = forward(model)
    del out
    return sum(seen.values())


@dataclass(frozen=True)
class ActivationLine:
    """Saved-activation bytes as ``fixed + per_example * batch``, from two probes."""

    fixed: float
    per_example: float

    def at(self, batch: int) -> int:
        return max(0, math.ceil(self.fixed + self.per_example * batch))


def probe_activations(model: Any, forward_at: Callable[[Any, int], Any],
                      autocast: Any = None, batches: tuple[int, int] = (2, 4)) -> ActivationLine:
    """Fit :class:`ActivationLine` from ``forward_at(model, batch)`` at two batch sizes."""
    small, large = batches
    a = saved_activation_bytes(model, lambda m: forward_at(m, small), autocast)
    b = saved_activation_bytes(model, lambda m: forward_at(m, large), autocast)
    per = (b - a) / (large - small)
    return ActivationLine(fixed=a - per * small, per_example=per)


def estimate(model: Any, activations: ActivationLine, batch_size: int,
             optimizer: str = "adamw", momentum: float = 0.9,
             margin: int = DEFAULT_MARGIN_BYTES) -> MemoryEstimate:
    """The peak estimate of a trial training ``model`` at ``batch_size``."""
    weights, grads, state = parameter_bytes(model, optimizer, momentum)
    return MemoryEstimate(weights, grads, state, activations.at(batch_size), margin)


def refine(estimated: int, history: Sequence[tuple[int, int]]) -> int:
    """``estimated`` scaled by how earlier trials' measured peaks compared with their
    estimates (the median ratio, so one odd trial does not move it); unchanged with no
    history. ``history`` holds ``(estimated, measured)`` byte pairs."""
    ratios = [measured / est for est, measured in history if est > 0 and measured > 0]
    if not ratios:
        return estimated
    return math.ceil(estimated * statistics.median(ratios))


def gpu_fraction(peak_bytes: int, gpu_memory_bytes: int, requested: float = 0.0,
                 headroom: float = 0.1) -> float:
    """The share of one GPU a trial should ask Ray for.

    At least ``requested`` (the space's ``resources.gpu``) and at least the estimated
    peak plus ``headroom`` over the GPU's memory, rounded up to :data:`FRACTION_STEP`;
    at most 1 (a trial larger than a whole GPU gets one, and fails OOM if it must).

    Raises:
        ValueError: a GPU memory size that is not positive.
    """
    if gpu_memory_bytes <= 0:
        raise ValueError(f"gpu_memory_bytes must be > 0, got {gpu_memory_bytes}")
    need = peak_bytes * (1 + headroom) / gpu_memory_bytes
    steps = math.ceil(round(need / FRACTION_STEP, 9))
    return min(1.0, max(requested, steps * FRACTION_STEP))
