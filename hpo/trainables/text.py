"""Built-in trainable: fine-tune a pre-trained encoder for text classification.

Config keys (all optional, searchable or fixed in the space):
  learning_rate (5e-5), weight_decay (0.01), batch_size (32), epochs (3),
  warmup_ratio (0.0), lr_schedule (linear | cosine | constant), max_grad_norm (1.0),
  label_smoothing (0.0), max_length (64), evals_per_epoch (1), seed.
The space's ``model`` section gives ``name_or_path`` (a local folder, a hub name,
or ``minilm-l6`` for the packaged MiniLM-L6) and its ``data`` section the data
(see :mod:`hpo.data`). The trial reports ``accuracy``, ``eval_loss``,
``train_loss``, ``epoch`` and ``examples`` after each evaluation; reports come
after the same number of examples whatever the batch size, so trials are
compared at the same amount of training.
"""

from __future__ import annotations

import hashlib
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from hpo.trainables._context import report, should_stop, trial_context

DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-5, "weight_decay": 0.01, "batch_size": 32, "epochs": 3,
    "warmup_ratio": 0.0, "lr_schedule": "linear", "max_grad_norm": 1.0,
    "label_smoothing": 0.0, "max_length": 64, "evals_per_epoch": 1,
}


@lru_cache(maxsize=4)
def _tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


@lru_cache(maxsize=4)
def _encoded(model_path: str, data_key: str, max_length: int) -> tuple[Any, dict[str, Any]]:
    # Cached per worker: an actor reused for many trials tokenises once.
    import json

    from hpo.data import load_text_data

    splits, identity = load_text_data(json.loads(data_key))
    tok = _tokenizer(model_path)
    encoded = {}
    for name in ("train", "validation"):
        ds = splits[name]
        enc = tok(list(ds["text"]), truncation=True, max_length=max_length)
        encoded[name] = (enc["input_ids"], list(ds["label"]))
    identity["num_labels"] = len(identity["labels"])
    return encoded, identity


@lru_cache(maxsize=2)
def _base_state(model_path: str, num_labels: int) -> tuple[Any, Any]:
    # Weights are read from disk once per worker; each trial starts from a copy.
    import transformers
    from transformers import AutoModelForSequenceClassification

    transformers.logging.set_verbosity_error()
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)
    return model.config, {k: v.clone() for k, v in model.state_dict().items()}


def _fresh_model(model_path: str, num_labels: int, seed: int, dropout: float | None) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification

    config, state = _base_state(model_path, num_labels)
    config = config.__class__.from_dict(config.to_dict())
    if dropout is not None:
        config.hidden_dropout_prob = dropout
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    # The head keeps its fresh, seeded initialisation; the encoder gets the pre-trained weights.
    head = {k for k in state if k.startswith("classifier")}
    model.load_state_dict({k: v for k, v in state.items() if k not in head}, strict=False)
    return model


def _batches(ids: list[list[int]], labels: list[int], size: int, pad: int, gen: Any,
             shuffle: bool) -> Any:
    import torch

    order = torch.randperm(len(ids), generator=gen).tolist() if shuffle else range(len(ids))
    order = list(order)
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        yield input_ids, mask, torch.tensor([labels[i] for i in idx])


def _evaluate(model: Any, data: tuple[list, list], pad: int) -> tuple[float, float]:
    import torch

    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.inference_mode():
        for input_ids, mask, labels in _batches(*data, 128, pad, None, shuffle=False):
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(-1) == labels).sum())
            n += len(labels)
    model.train()
    return correct / n, loss_sum / n


def train_text_classifier(config: dict[str, Any]) -> None:
    """Fine-tune and report validation accuracy/loss ``epochs * evals_per_epoch`` times."""
    import json

    import torch
    from transformers import get_scheduler

    from hpo.trainables._models import resolve_model

    cfg = {**DEFAULTS, **config}
    ctx = trial_context()
    torch.set_num_threads(max(1, int(cfg.get("threads", ctx.cpus))))
    seed = int(cfg.get("seed", ctx.seed))
    model_path = resolve_model(str(ctx.model.get("name_or_path", "minilm-l6")))
    data_key = json.dumps(ctx.data, sort_keys=True)
    encoded, identity = _encoded(model_path, data_key, int(cfg["max_length"]))
    train_ids, train_labels = encoded["train"]
    pad = _tokenizer(model_path).pad_token_id or 0
    model = _fresh_model(model_path, identity["num_labels"], seed, cfg.get("dropout"))
    model.train()

    batch = int(cfg["batch_size"])
    steps_per_epoch = math.ceil(len(train_ids) / batch)
    total_steps = steps_per_epoch * int(cfg["epochs"])
    named = list(model.named_parameters())
    no_decay = [p for n, p in named if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(cfg["weight_decay"])},
         {"params": no_decay, "weight_decay": 0.0}], lr=float(cfg["learning_rate"]))
    schedule = get_scheduler(str(cfg["lr_schedule"]), optimizer,
                             num_warmup_steps=int(float(cfg["warmup_ratio"]) * total_steps),
                             num_training_steps=total_steps)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=float(cfg["label_smoothing"]))
    evals = max(1, int(cfg["evals_per_epoch"]))
    # Evaluate after fixed numbers of examples, so batch sizes are compared alike.
    marks = [round(len(train_ids) * (k + 1) / evals) for k in range(evals)]
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    seen_total = 0
    for epoch in range(int(cfg["epochs"])):
        seen, mark_i, running, count = 0, 0, 0.0, 0
        for input_ids, mask, labels in _batches(train_ids, train_labels, batch, pad, gen, True):
            if should_stop():
                return
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = loss_fn(logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["max_grad_norm"]))
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            running += float(loss) * len(labels)
            count += len(labels)
            seen += len(labels)
            seen_total += len(labels)
            while mark_i < len(marks) and seen >= marks[mark_i]:
                mark_i += 1
                acc, eval_loss = _evaluate(model, encoded["validation"], pad)
                report({
                    "accuracy": acc, "eval_loss": eval_loss, "train_loss": running / count,
                    "epoch": epoch + seen / len(train_ids), "examples": seen_total,
                    "train_seconds": time.time() - t0,
                })
                running, count = 0.0, 0


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def describe(model: dict[str, Any], data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Identity of the model and data a search will use, checked before it starts.

    Raises:
        FileNotFoundError: the model or the data is not installed.
        ValueError: the data section is invalid (unknown key, missing column).
    """
    from hpo.data import load_text_data
    from hpo.trainables._models import resolve_model

    resolved = resolve_model(str(model.get("name_or_path", "minilm-l6")))
    model_id: dict[str, Any] = {**model, "resolved": resolved}
    folder = Path(resolved)
    if folder.is_dir():
        model_id["files"] = {f.name: _file_digest(f) for f in sorted(folder.iterdir())
                             if f.is_file() and f.suffix in (".json", ".safetensors", ".bin")}
    _, data_id = load_text_data(data)
    return {"model": model_id, "data": {**data, **data_id}}


train_text_classifier.describe = describe  # type: ignore[attr-defined]
