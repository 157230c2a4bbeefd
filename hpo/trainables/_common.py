"""Config handling and training set-up shared by the built-in trainables.

Both trainables read the same fine-tuning keys (strategy, LoRA, optimiser,
schedule, loss) and build the same training objects from them through
:mod:`hpo.finetune`; only the model, the data and the augmentation differ.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hpo.trainables._device import HARDWARE_KEY, Placement, hardware
from hpo.trainables._wrap import RUNG_ONLY_KEY

#: Fine-tuning keys both trainables accept, with their defaults (None = off/auto).
FINETUNE_DEFAULTS: dict[str, Any] = {
    "weight_decay": 0.01, "batch_size": 32, "epochs": 3, "warmup_ratio": 0.0,
    "max_grad_norm": 1.0, "label_smoothing": 0.0, "evals_per_epoch": 1,
    # Evaluations before an epoch's end only feed the scheduler's rungs: they score a
    # fixed stratified subset of this many validation examples (None: the whole split).
    # The end of every epoch is scored on the whole split, and only those scores become
    # the trial's value.
    "rung_eval_size": 128,
    "strategy": "full", "freeze_layers": 0, "lora_rank": 8, "lora_alpha": 16.0,
    "lora_dropout": 0.0, "lora_targets": None, "layer_decay": None, "head_lr": None,
    "optimizer": "adamw", "momentum": 0.9, "dropout": None, "seed": None, "threads": None,
    # auto: bf16 autocast on a GPU that has it, fp16 with a scaler otherwise, fp32 on the
    # CPU (see hpo.trainables._device).
    "precision": "auto",
    # Each batch in this many micro-batches, one optimiser step per batch: the same
    # effective batch in less memory.
    "grad_accumulation": 1,
    # Out of memory before the first report: fail (the config is infeasible), or retry
    # once with half the micro-batch and twice the accumulation.
    "oom": "fail",
}
OOM_CHOICES = ("fail", "retry")


def resolve_config(config: dict[str, Any], defaults: dict[str, Any],
                   trainable: str) -> dict[str, Any]:
    """Defaults overlaid with ``config``, refusing keys the trainable does not know.

    A misspelt key in a space would otherwise be sampled, stored and silently
    ignored, so every trial of the search would train with the default.

    Raises:
        ValueError: naming the unknown key(s) and the closest known ones.
    """
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        hints = {k: difflib.get_close_matches(k, list(defaults), n=1) for k in unknown}
        said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                         for k, h in hints.items())
        raise ValueError(f"{trainable}: unknown config key(s) {said}; known keys: "
                         f"{', '.join(sorted(defaults))}")
    return {**defaults, **config}


def lora_targets(value: Any) -> tuple[str, ...] | None:
    """``lora_targets`` as a tuple: a list, or a comma-separated string (usable as a choice)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"lora_targets must be module names (a list or 'a,b'), got {value!r}")


def prepare_model(model: Any, cfg: dict[str, Any], default_targets: tuple[str, ...] | None = None
                  ) -> Any:
    """Apply the config's fine-tuning strategy (the model may come back peft-wrapped)."""
    from hpo.finetune import LoraSettings, apply_strategy

    lora = None
    if cfg["strategy"] == "lora":
        lora = LoraSettings(rank=int(cfg["lora_rank"]), alpha=float(cfg["lora_alpha"]),
                            dropout=float(cfg["lora_dropout"]),
                            target_modules=lora_targets(cfg["lora_targets"]) or default_targets)
    freeze = cfg["freeze_layers"]
    return apply_strategy(model, str(cfg["strategy"]), lora=lora,
                          freeze_layers=None if freeze is None else int(freeze))


def build_training(model: Any, cfg: dict[str, Any], total_steps: int) -> tuple[Any, Any, Any]:
    """Optimiser, per-step schedule and loss for ``model`` as the config says.

    Returns:
        ``(optimizer, scheduler, loss_fn)``.
    """
    from hpo.finetune import build_loss, build_optimizer, build_param_groups, build_scheduler

    layer_decay = cfg["layer_decay"]
    head_lr = cfg["head_lr"]
    groups = build_param_groups(
        model, float(cfg["learning_rate"]), float(cfg["weight_decay"]),
        layer_decay=None if layer_decay is None else float(layer_decay),
        head_lr=None if head_lr is None else float(head_lr))
    optimizer = build_optimizer(str(cfg["optimizer"]), groups, momentum=float(cfg["momentum"]))
    warmup = float(cfg["warmup_ratio"])
    if not 0.0 <= warmup <= 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1], got {warmup!r}")
    scheduler = build_scheduler(str(cfg["lr_schedule"]), optimizer,
                                int(warmup * total_steps), total_steps)
    return optimizer, scheduler, build_loss(float(cfg["label_smoothing"]))


def freeze_frozen_norms(model: Any) -> None:
    """Put batch-norm layers whose parameters are all frozen in eval mode.

    Their running statistics are buffers that training mode updates even with
    no gradient; a frozen part of the network (a linear probe's backbone) must
    stay exactly as pre-trained.
    """
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()


def clip(model: Any, max_grad_norm: Any) -> None:
    """Clip gradients to ``max_grad_norm`` (0 or None: no clipping)."""
    import torch

    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], float(max_grad_norm))


def eval_marks(n_train: int, evals_per_epoch: Any) -> list[int]:
    """Example counts within an epoch after which to evaluate.

    Evaluating after fixed numbers of examples, not batches, makes reports of
    trials with different batch sizes comparable step by step.
    """
    evals = max(1, int(evals_per_epoch))
    return [round(n_train * (k + 1) / evals) for k in range(evals)]


def stratified_subset(labels: Sequence[Any], size: Any) -> list[int] | None:
    """Indices of a fixed subset of ``size`` examples with the label mix of ``labels``, in
    their order; None for the whole split (``size`` None, or not smaller than it).

    Seeded with 0, not the trial's seed: every trial's rungs score the same examples.
    """
    import random

    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"rung_eval_size must be an int >= 1 or null, got {size!r}")
    if size >= len(labels):
        return None
    by_label: dict[Any, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(int(y), []).append(i)
    share = {y: size * len(ix) / len(labels) for y, ix in by_label.items()}
    take = {y: int(q) for y, q in share.items()}
    # Largest remainders first, so the subset has exactly ``size`` examples.
    for y in sorted(share, key=lambda y: (take[y] - share[y], y))[:size - sum(take.values())]:
        take[y] += 1
    rng = random.Random(0)
    out: list[int] = []
    for y in sorted(by_label):
        out += rng.sample(by_label[y], take[y])
    return sorted(out)


def file_digest(path: Path) -> str:
    """Short SHA-256 of a file (identifies model weights in the study)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def micro_batches(accumulation: int, *tensors: Any) -> list[tuple[Any, ...]]:
    """``tensors`` (one batch, first dimension the examples) cut into ``accumulation``
    near-equal micro-batches; fewer when the batch has fewer examples."""
    n = len(tensors[0])
    parts = max(1, min(int(accumulation), n))
    bounds = [round(n * k / parts) for k in range(parts + 1)]
    return [tuple(t[a:b] for t in tensors) for a, b in itertools.pairwise(bounds) if b > a]


def check_memory_keys(cfg: dict[str, Any]) -> None:
    """Refuse a bad ``grad_accumulation`` or ``oom`` value, quoted."""
    acc = cfg["grad_accumulation"]
    if isinstance(acc, bool) or not isinstance(acc, int) or acc < 1:
        raise ValueError(f"grad_accumulation must be an int >= 1, got {acc!r}")
    if cfg["oom"] not in OOM_CHOICES:
        raise ValueError(f"oom must be one of {', '.join(OOM_CHOICES)}, got {cfg['oom']!r}")


def with_oom_retry(cfg: dict[str, Any], train: Callable[[int, dict[str, float]], Any]) -> Any:
    """``train(accumulation, facts)``, run once more with twice the accumulation (half the
    micro-batch, the same effective batch) if it runs out of memory before its first
    report and the config says ``oom: retry``. The retry's reports carry
    ``oom_retries`` and ``grad_accumulation``, so the study records it.
    """
    from hpo.trainables._context import Infeasible, trial_context
    from hpo.trainables._wrap import infeasible_reason

    accumulation = int(cfg["grad_accumulation"])
    history = trial_context().history
    before = len(history)
    try:
        return train(accumulation, {})
    except Exception as exc:
        # Only a real out-of-memory error before any report: a trainable's own
        # Infeasible is a verdict, and a retry after reports would repeat their steps.
        if not (cfg["oom"] == "retry" and len(history) == before
                and not isinstance(exc, Infeasible) and infeasible_reason(exc) is not None
                and int(cfg["batch_size"]) >= 2 * accumulation):
            raise
    # Outside the handler, the failed attempt's frames (its model and optimiser state)
    # are released with the exception; collect them before the second attempt.
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return train(2 * accumulation, {"oom_retries": 1.0,
                                    "grad_accumulation": float(2 * accumulation)})


class StepAndReport:
    """What every batch of a built-in training loop ends with, shared by text and image.

    One optimiser step (backward, clipping, step, schedule, zero_grad); at each of
    the epoch's evaluation marks, an evaluation and a report of validation accuracy
    and loss, training loss since the last report, epoch, examples and seconds.

    Args:
        model: the model being trained.
        cfg: the resolved config (``max_grad_norm``, ``evals_per_epoch``).
        optimizer: from :func:`build_training`.
        schedule: from :func:`build_training`.
        epoch_size: training examples per epoch.
        evaluate: returns validation ``(accuracy, loss)`` (and leaves the model training).
        evaluate_rung: the same on the fixed validation subset (``rung_eval_size``), for
            the evaluations before an epoch's end; their reports carry ``RUNG_ONLY_KEY``
            (kept in the trial's metric history). None: every evaluation is whole.
        after_report: the trial context's hook; True ends training after that report.
        placement: the trial's device and precision; fp16 steps go through a gradient
            scaler, and on a GPU every report carries ``gpu_peak_bytes`` (the most
            memory torch allocated so far) while the first one also names the hardware.
    """

    def __init__(self, model: Any, cfg: dict[str, Any], optimizer: Any, schedule: Any,
                 epoch_size: int, evaluate: Callable[[], tuple[float, float]],
                 after_report: Callable[[Any, int], bool] | None = None,
                 placement: Placement | None = None,
                 evaluate_rung: Callable[[], tuple[float, float]] | None = None) -> None:
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.evaluate_rung = evaluate_rung
        self.placement = placement or Placement("cpu", "fp32")
        self.scaler = self.placement.scaler()
        self.max_grad_norm = cfg["max_grad_norm"]
        self.marks = eval_marks(epoch_size, cfg["evals_per_epoch"])
        self.epoch_size = epoch_size
        self.evaluate = evaluate
        self.after_report = after_report
        self.t0 = time.time()
        self.seen_total = self.reports = 0
        self.train_loss = math.nan  # the mean loss since the last report
        #: Reported with every evaluation (e.g. the accumulation an OOM retry chose).
        self.facts: dict[str, float] = {}
        self.new_epoch(0)

    def _hardware_facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if self.reports == 0:  # stored once per trial as hpo:hardware
            facts[HARDWARE_KEY] = json.dumps(hardware(self.placement.device), sort_keys=True)
        if self.placement.device_type == "cuda":
            import torch

            facts["gpu_peak_bytes"] = float(torch.cuda.max_memory_allocated(
                torch.device(self.placement.device)))
        return facts

    def new_epoch(self, epoch: int) -> None:
        self.epoch, self.seen, self.mark_i, self.running, self.count = epoch, 0, 0, 0.0, 0

    def backward(self, loss: Any) -> None:
        """Accumulate the gradients of one micro-batch's share of the batch loss."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step(self, loss: Any, n: int) -> bool:
        """Optimise on one batch's mean ``loss`` over ``n`` examples; True: stop training."""
        self.backward(loss)
        return self.finish(float(loss.item()), n)

    def finish(self, loss_value: float, n: int) -> bool:
        """The optimiser step after a batch's micro-batches went through :meth:`backward`,
        then the report when an evaluation mark is reached; True: stop training."""
        from hpo.trainables._context import report

        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients
            clip(self.model, self.max_grad_norm)
            self.scaler.step(self.optimizer)  # skipped when fp16 overflowed
            self.scaler.update()
        else:
            clip(self.model, self.max_grad_norm)
            self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.running += loss_value * n
        self.count += n
        self.seen += n
        self.seen_total += n
        while self.mark_i < len(self.marks) and self.seen >= self.marks[self.mark_i]:
            self.mark_i += 1
            rung_only: dict[str, float] = {}
            if self.evaluate_rung is not None and self.mark_i < len(self.marks):
                acc, eval_loss = self.evaluate_rung()
                rung_only = {RUNG_ONLY_KEY: 1.0}
            else:
                acc, eval_loss = self.evaluate()
            if self.count:  # one batch may pass two marks: the second repeats the loss
                self.train_loss = self.running / self.count
            report({
                "accuracy": acc, "eval_loss": eval_loss, "train_loss": self.train_loss,
                "epoch": self.epoch + self.seen / self.epoch_size, "examples": self.seen_total,
                "train_seconds": time.time() - self.t0, **self._hardware_facts(),
                **self.facts, **rung_only,
            })
            self.running, self.count = 0.0, 0
            self.reports += 1
            if self.after_report is not None and self.after_report(self.model, self.reports):
                return True
        return False


#: Config keys that change what a trial's model saves for its backward pass.
_PROBE_KEYS = ("strategy", "freeze_layers", "lora_rank", "lora_alpha", "lora_dropout",
               "lora_targets", "precision")


def probe_key(cfg: dict[str, Any], *extra: Any) -> str:
    """A cache key of what an activation probe depends on (not the batch size)."""
    return json.dumps([[cfg.get(k) for k in _PROBE_KEYS], *extra], sort_keys=True,
                      default=str)


def gpu_precision(requested: str) -> str:
    """The precision a trial asking for ``requested`` trains in on a GPU: ``auto`` is
    bf16 (what current GPUs support; fp16 saves the same widths)."""
    return "bf16" if requested == "auto" else requested


#: Probes already run in this process: activation line and parameter bytes per key.
_PROBES: dict[str, tuple[Any, int, int]] = {}


def cached_memory_estimate(key: str, build: Callable[[], tuple[Any, Callable[[Any, int], Any]]],
                           cfg: dict[str, Any]) -> Any:
    """The :class:`~hpo.trainables._memory.MemoryEstimate` of a trial with ``cfg``.

    ``build()`` returns the model prepared for the config's strategy and a
    ``forward_at(model, batch)`` returning a loss; it runs (and the probe with it, on
    the CPU) once per ``key`` in this process, so a search probes each distinct
    strategy and precision once, whatever its batch sizes and optimisers.
    """
    from hpo.trainables import _memory
    from hpo.trainables._device import Placement

    if key not in _PROBES:
        model, forward_at = build()
        precision = gpu_precision(str(cfg["precision"]))
        autocast = None if precision == "fp32" else Placement("cpu", precision).autocast()
        model.train()
        line = _memory.probe_activations(model, forward_at, autocast)
        weights, grads, _ = _memory.parameter_bytes(model, "sgd", 0.0)
        _PROBES[key] = (line, weights, grads)
    line, weights, grads = _PROBES[key]
    optimizer = str(cfg["optimizer"])
    key_opt = "sgd_plain" if optimizer == "sgd" and not cfg["momentum"] else optimizer
    if key_opt not in _memory.OPTIMIZER_STATE_BYTES:
        raise ValueError(f"optimizer: {optimizer!r} has no known state size")
    state = grads // 4 * _memory.OPTIMIZER_STATE_BYTES[key_opt]
    micro = math.ceil(int(cfg["batch_size"]) / int(cfg["grad_accumulation"]))
    return _memory.MemoryEstimate(weights, grads, state, line.at(micro))
