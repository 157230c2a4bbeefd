"""Fine-tuning choices: which parameters train, and how they are optimised.

Importing this package loads torch only; ``peft`` is imported when a LoRA
strategy is applied and ``transformers`` when a scheduler is built.
"""

from __future__ import annotations

from hpo.finetune.optim import (
    OPTIMIZERS,
    SCHEDULERS,
    build_loss,
    build_optimizer,
    build_param_groups,
    build_scheduler,
)
from hpo.finetune.strategies import (
    STRATEGIES,
    LoraSettings,
    apply_strategy,
    default_lora_targets,
    find_encoder_layers,
    find_head,
    parameter_depths,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "STRATEGIES",
    "LoraSettings",
    "apply_strategy",
    "build_loss",
    "build_optimizer",
    "build_param_groups",
    "build_scheduler",
    "default_lora_targets",
    "find_encoder_layers",
    "find_head",
    "parameter_depths",
]
