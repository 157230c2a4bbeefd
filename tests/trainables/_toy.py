"""A toy model under :class:`StepAndReport`, for tests of when and what a trial reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from hpo.trainables import _common


def toy_steps(epoch_size: int, evals_per_epoch: int, evaluate: Callable[[], tuple[float, float]],
              evaluate_rung: Callable[[], tuple[float, float]] | None = None
              ) -> tuple[torch.nn.Module, Any]:
    """A seeded 4-in, 2-out linear model and the steps that train and report it."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    cfg = {"max_grad_norm": 1.0, "evals_per_epoch": evals_per_epoch}
    return model, _common.StepAndReport(model, cfg, optimizer, schedule, epoch_size, evaluate,
                                        evaluate_rung=evaluate_rung)
