"""Method (c): ``transformers``' ``Trainer.hyperparameter_search(backend="optuna")``.

Its default space (learning rate 1e-6..1e-4, 1-5 epochs, seed, batch 4-64), its default
objective (the sum of the evaluation metrics: here validation accuracy, at the last
epoch), evaluation once per epoch, the budget as Optuna's ``timeout`` (checked between
trials only) and a seeded TPE sampler. EfficientNet-Lite0 gets a thin module that returns
``{"loss", "logits"}``, the one thing ``Trainer`` needs of a model. The pick's
hyperparameters are retrained with ``Trainer`` itself, its ``seed`` replaced by the
retrain seed, and scored once on the test split with ``Trainer.evaluate``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks._peers.outcome import Outcome
from benchmarks._peers.plain_loop import PlainData, build_model, cached_data, model_path
from benchmarks._peers.tasks import Task

QUICK_TRIALS = 2
UNBOUNDED_TRIALS = 10_000


class ImageForTrainer(nn.Module):
    """An image classifier that takes ``pixel_values`` and ``labels`` as ``Trainer`` calls it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixel_values: Any, labels: Any = None) -> dict[str, Any]:
        logits = self.net(pixel_values)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out


def _dataset(data: PlainData, split: str) -> list[dict[str, Any]]:
    x, y = data.splits[split]
    if data.kind == "image":
        return [{"pixel_values": x[i], "labels": int(y[i])} for i in range(len(y))]
    return [{"input_ids": x[i], "labels": int(y[i])} for i in range(len(y))]


def _trainer(task: Task, data: PlainData, workdir: Path, seed: int, evaluate: bool,
             hyperparameters: dict[str, Any] | None = None) -> Any:
    """A ``Trainer`` for the task; ``hyperparameters`` (a pick's) go into its arguments at
    construction, since ``Trainer`` reads the batch size from them only there."""
    import numpy as np
    from transformers import (
        AutoTokenizer,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    def model_init(trial: Any = None) -> Any:
        model = build_model(task, data.num_labels, None)
        return ImageForTrainer(model) if task.kind == "image" else model

    def compute_metrics(pred: Any) -> dict[str, float]:
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    collator = (default_data_collator if task.kind == "image"
                else DataCollatorWithPadding(AutoTokenizer.from_pretrained(model_path(task))))
    settings: dict[str, Any] = {"num_train_epochs": task.epochs,
                                "per_device_train_batch_size": 32, **(hyperparameters or {}),
                                "seed": seed}
    args = TrainingArguments(
        output_dir=str(workdir / "trainer"), eval_strategy="epoch" if evaluate else "no",
        save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=True, per_device_eval_batch_size=128, **settings)
    trainer = Trainer(model_init=model_init, args=args, train_dataset=_dataset(data, "train"),
                      eval_dataset=_dataset(data, "validation"), data_collator=collator,
                      compute_metrics=compute_metrics)
    trainer.remove_callback(PrinterCallback)  # a metrics dict on stdout per evaluation
    return trainer


def _quick_space(trial: Any) -> dict[str, Any]:
    """The default space at one epoch, so a quick run takes seconds."""
    from transformers.trainer_utils import default_hp_space_optuna

    return {**default_hp_space_optuna(trial), "num_train_epochs": 1}


def search(task: Task, budget: float, seed: int, quick: bool, workdir: Path) -> Outcome:
    import optuna

    data = cached_data(task.name, quick)
    storage = f"sqlite:///{workdir / 'trainer.db'}"
    name = f"bench-trainer-{task.name}-{seed}"
    t0 = time.perf_counter()
    trainer = _trainer(task, data, workdir, seed, evaluate=True)
    best = trainer.hyperparameter_search(
        direction="maximize", backend="optuna", hp_space=_quick_space if quick else None,
        n_trials=QUICK_TRIALS if quick else UNBOUNDED_TRIALS, timeout=budget,
        study_name=name, storage=storage, load_if_exists=False,
        sampler=optuna.samplers.TPESampler(seed=seed))
    wall = time.perf_counter() - t0
    trials = len(optuna.load_study(study_name=name, storage=storage).trials)
    config = dict(best.hyperparameters)
    if quick:  # the quick space sampled an epoch count it then replaced
        config["num_train_epochs"] = 1
    return Outcome(trials=trials, search_seconds=wall, best_validation=float(best.objective),
                   config=config, notes={"trial": best.run_id})


def retrain(task: Task, outcome: Outcome, seed: int, threads: int, quick: bool) -> float:
    import tempfile

    import torch

    torch.set_num_threads(threads)
    data = cached_data(task.name, quick)
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        trainer = _trainer(task, data, Path(tmp), seed, evaluate=False,
                           hyperparameters=outcome.config)
        trainer.train()
        metrics = trainer.evaluate(_dataset(data, "test"))
    return float(metrics["eval_accuracy"])
