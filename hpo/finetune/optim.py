"""Optimiser, learning-rate schedule and loss for a fine-tuning trial.

:func:`build_param_groups` encodes the usual fine-tuning tricks as torch
parameter groups: layer-wise learning-rate decay (lower layers hold more
general features, so they move less), a separate head learning rate (the head
starts from scratch), and no weight decay on biases and normalisation weights.
Each group carries a ``name`` key (e.g. ``"layer_3/decay"``) for logging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from hpo.finetune.strategies import find_head, parameter_depths

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("linear", "cosine", "constant")

ParamGroup = dict[str, Any]


def _positive(name: str, value: float) -> None:
    if not (value > 0) or value == math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _no_decay(name: str, param: nn.Parameter) -> bool:
    # Vectors are biases and LayerNorm/BatchNorm scales: shrinking them towards
    # zero regularises nothing useful and hurts normalisation.
    return param.ndim <= 1 or name.endswith(".bias")


def _under(name: str, prefix: str) -> bool:
    return name.startswith(prefix + ".")


def build_param_groups(model: nn.Module, lr: float, weight_decay: float, *,
                       layer_decay: float | None = None,
                       head_lr: float | None = None) -> list[ParamGroup]:
    """Split the trainable parameters into optimiser groups.

    With ``layer_decay`` the top encoder layer (and the pooler/final norm above
    it) gets ``lr``, layer ``i`` of ``n`` gets ``lr * layer_decay ** (n - i)`` and
    the embeddings get the smallest rate, ``lr * layer_decay ** n``. The head gets
    ``head_lr`` when given, else the rate of the top. Frozen parameters are left
    out, so this composes with :func:`hpo.finetune.apply_strategy`.

    Args:
        model: The (possibly ``peft``-wrapped) model.
        lr: Base learning rate.
        weight_decay: Decay for matrices; biases and norm weights get 0.
        layer_decay: Factor in (0, 1]; ``None`` gives every layer ``lr``.
        head_lr: Learning rate of the classification head.

    Returns:
        A list of ``{"name", "params", "lr", "weight_decay"}`` dictionaries.

    Raises:
        ValueError: For bad values, or when the head/layers they need cannot
            be found in the model.
    """
    _positive("lr", lr)
    if not (0.0 <= weight_decay < math.inf):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if layer_decay is not None and not (0.0 < layer_decay <= 1.0):
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay!r}")
    if head_lr is not None:
        _positive("head_lr", head_lr)
    head_prefix = find_head(model)[0] if head_lr is not None else None
    depths, num_layers = parameter_depths(model) if layer_decay is not None else ({}, 0)
    groups: dict[str, ParamGroup] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if head_prefix is not None and _under(name, head_prefix):
            key, rate = "head", head_lr
        elif layer_decay is not None:
            depth = depths[name]
            key = ("embeddings" if depth == 0 else "top" if depth > num_layers
                   else f"layer_{depth}")
            rate = lr * layer_decay ** max(num_layers - depth, 0)
        else:
            key, rate = "all", lr
        no_decay = _no_decay(name, param)
        group_name = f"{key}/{'no_decay' if no_decay else 'decay'}"
        group = groups.setdefault(group_name, {"name": group_name, "params": [], "lr": rate,
                                               "weight_decay": 0.0 if no_decay else weight_decay})
        group["params"].append(param)
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return list(groups.values())


def build_optimizer(name: str, param_groups: Iterable[ParamGroup], *, lr: float | None = None,
                    momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999),
                    eps: float = 1e-8, nesterov: bool = False) -> torch.optim.Optimizer:
    """Create the optimiser.

    ``adamw`` decouples weight decay from the gradient step; ``adam`` adds it to
    the gradient (L2), as torch defines them.

    Args:
        name: One of :data:`OPTIMIZERS`.
        param_groups: Groups from :func:`build_param_groups` (each with its lr).
        lr: Default rate for groups that carry none.
        momentum: SGD momentum.
        betas: Adam/AdamW betas.
        eps: Adam/AdamW epsilon.
        nesterov: SGD Nesterov momentum.

    Returns:
        A ``torch.optim.Optimizer``.
    """
    groups = list(param_groups)
    extra: dict[str, Any] = {} if lr is None else {"lr": lr}
    if lr is not None:
        _positive("lr", lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, betas=betas, eps=eps, **extra)
    if name == "adam":
        return torch.optim.Adam(groups, betas=betas, eps=eps, **extra)
    if name == "sgd":
        if not (0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        return torch.optim.SGD(groups, momentum=momentum, nesterov=nesterov,
                               **({"lr": 1e-3} | extra))
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, warmup_steps: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate schedule with linear warm-up, stepped once per optimiser step.

    Args:
        name: ``linear`` (decay to 0), ``cosine`` (half cosine to 0) or
            ``constant`` (flat after warm-up).
        optimizer: The optimiser whose group rates are scaled.
        warmup_steps: Steps of linear warm-up from 0.
        total_steps: Planned optimiser steps in the whole trial.

    Returns:
        A ``LambdaLR`` from ``transformers``' schedule helpers.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be an int >= 1, got {total_steps!r}")
    if not isinstance(warmup_steps, int) or not (0 <= warmup_steps <= total_steps):
        raise ValueError(f"warmup_steps must be an int in [0, total_steps={total_steps}], "
                         f"got {warmup_steps!r}")
    from transformers import (  # heavy; keep importing this module cheap
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    if name == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    if name == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    return get_constant_schedule_with_warmup(optimizer, warmup_steps)


def build_loss(label_smoothing: float = 0.0) -> nn.CrossEntropyLoss:
    """Cross-entropy with optional label smoothing.

    It accepts class ids or soft labels (as mixup/CutMix produce).

    Args:
        label_smoothing: Share of the target mass spread uniformly, in [0, 1).

    Returns:
        ``torch.nn.CrossEntropyLoss``.
    """
    if not (0.0 <= label_smoothing < 1.0):
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
