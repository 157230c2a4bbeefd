"""Built-in trainable: fine-tune a pre-trained encoder for text classification.

Config keys (all optional, searchable or fixed in the space; unknown keys are an error):
  training: learning_rate (5e-5), weight_decay (0.01), batch_size (32), epochs (3),
    warmup_ratio (0.0), lr_schedule (linear | cosine | constant), optimizer
    (adamw | adam | sgd), momentum (0.9, sgd), max_grad_norm (1.0; 0 = off),
    label_smoothing (0.0), dropout (hidden dropout; model default), max_length (64),
    group_by_length (false: batches of random examples; true: each batch drawn from
    8 batches' worth of random examples sorted by length, so it pads less),
    evals_per_epoch (1), rung_eval_size (128: validation examples scored by the
    evaluations before an epoch's end, which feed only the scheduler; None: all),
    seed (the trial's seed), threads (the trial's CPUs),
    precision (auto | fp32 | bf16 | fp16), grad_accumulation (1), oom (fail | retry);
  fine-tuning: strategy (full | linear_probe | freeze_bottom | lora), freeze_layers (0,
    for freeze_bottom), lora_rank (8), lora_alpha (16), lora_dropout (0.0),
    lora_targets (attention query/value; a list or "a,b"), layer_decay (off),
    head_lr (off: the head uses learning_rate);
  augmentation of training batches: token_dropout, random_swap, random_insertion,
    span_mask, embedding_mixup_alpha (all 0 = off), max_span (3), insert_copy_prob (0.5).
The space's ``model`` section gives ``name_or_path`` (a local folder, a hub name,
or ``minilm-l6`` for the packaged MiniLM-L6) and its ``data`` section the data
(see :mod:`hpo.data`). The trial reports ``accuracy``, ``eval_loss``,
``train_loss``, ``epoch`` and ``examples`` after each evaluation; reports come
after the same number of examples whatever the batch size, so trials are
compared at the same amount of training.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Any

from hpo.trainables._base import Trainable
from hpo.trainables._common import (
    FINETUNE_DEFAULTS,
    StepAndReport,
    build_training,
    cached_memory_estimate,
    check_memory_keys,
    micro_batches,
    prepare_model,
    probe_key,
    resolve_config,
    stratified_subset,
    with_oom_retry,
)
from hpo.trainables._context import should_stop, trial_context
from hpo.trainables._device import place

DEFAULTS: dict[str, Any] = {
    **FINETUNE_DEFAULTS,
    "learning_rate": 5e-5, "lr_schedule": "linear", "max_length": 64, "group_by_length": False,
    "token_dropout": 0.0, "random_swap": 0.0, "random_insertion": 0.0, "span_mask": 0.0,
    "embedding_mixup_alpha": 0.0, "max_span": 3, "insert_copy_prob": 0.5,
}
_AUGMENT_KEYS = ("token_dropout", "random_swap", "random_insertion", "span_mask",
                 "embedding_mixup_alpha", "max_span", "insert_copy_prob")


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
    for name, ds in splits.items():  # train, validation, test (and selection when asked for)
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
    transformers.logging.disable_progress_bar()  # the per-load "Loading weights" bar
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


#: ``group_by_length``: a batch is drawn from this many batches' worth of random examples
#: sorted by length. Hugging Face's ``LengthGroupedSampler`` sorts 50 batches' worth; on
#: 1,000 examples that is nearly the whole split, so every batch would hold one narrow band
#: of lengths (on data whose classes differ in length, few classes). 8 keeps batches mixed
#: and still cuts the padded tokens of random batches by 1.6-2.5x (fortunes, Rotten Tomatoes).
GROUP_BATCHES = 8


def _batches(ids: list[list[int]], labels: list[int], size: int, pad: int, gen: Any,
             shuffle: bool) -> Any:
    import torch

    if shuffle:
        order = torch.randperm(len(ids), generator=gen).tolist()
    else:  # scoring: the order does not matter, so batch similar lengths (less padding)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        yield input_ids, mask, torch.tensor([labels[i] for i in idx])


class _PaddedSplit:
    """A tokenised training split as padded tensors, built once per trial.

    Batches are rows picked from them and cut to the batch's longest sequence, the
    same tensors a per-batch padding would build. Without token augmentation (which
    runs on the CPU) the tensors live on the trial's device, so a GPU never waits on
    host-side batch building.
    """

    def __init__(self, ids: list[list[int]], labels: list[int], pad: int, device: str) -> None:
        import torch

        self.lengths = torch.tensor([len(seq) for seq in ids])
        width = int(self.lengths.max()) if len(ids) else 0
        self.ids = torch.full((len(ids), width), pad, dtype=torch.long)
        self.mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            self.ids[row, : len(seq)] = torch.tensor(seq)
            self.mask[row, : len(seq)] = 1
        self.labels = torch.tensor(labels)
        self.ids, self.mask, self.labels = (t.to(device) for t in (self.ids, self.mask,
                                                                     self.labels))
        self.host_lengths = self.lengths
        self.lengths = self.lengths.to(device)

    def batches(self, size: int, gen: Any, by_length: bool = False) -> Any:
        """One epoch's batches in a random order drawn from ``gen``.

        ``by_length``: every ``GROUP_BATCHES * size`` random examples are sorted by length
        and cut into batches, and all the epoch's batches are then shuffled. The batch
        sizes, and their order, are those of random batches, so schedules and evaluation
        marks see the same steps.
        """
        import torch

        order = torch.randperm(len(self.labels), generator=gen)
        if by_length:
            groups = []
            for chunk in order.split(size * GROUP_BATCHES):
                chunk = chunk[torch.argsort(self.host_lengths[chunk], stable=True)]
                groups.extend(chunk.split(size))
            picks = [groups[i] for i in torch.randperm(len(groups), generator=gen).tolist()]
            # A short last batch stays last, as in random batching: evaluation marks fall
            # after the same batches whatever the grouping.
            picks.sort(key=lambda picked: len(picked) < size)
        else:
            picks = list(order.split(size))
        for picked in picks:
            idx = picked.to(self.labels.device)
            width = int(self.lengths[idx].max())
            yield self.ids[idx, :width], self.mask[idx, :width], self.labels[idx]


def _evaluate(model: Any, data: tuple[list, list], pad: int) -> tuple[float, float]:
    import torch

    device = next(model.parameters()).device  # wherever the trial trained it
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.inference_mode():
        for batch in _batches(*data, 128, pad, None, shuffle=False):
            input_ids, mask, labels = (t.to(device, non_blocking=True) for t in batch)
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(-1) == labels).sum())
            n += len(labels)
    model.train()
    return correct / n, loss_sum / n


def _augmenter(cfg: dict[str, Any], model_path: str) -> tuple[Any, Any]:
    from hpo.augment import TextAugmentConfig, build_text_augmenter

    # Validate with the tokenizer's ids filled in: span masking needs the mask id.
    settings = TextAugmentConfig().with_tokenizer(_tokenizer(model_path))
    settings = dataclasses.replace(settings, **{k: cfg[k] for k in _AUGMENT_KEYS})
    return settings, build_text_augmenter(settings) if settings.enabled else None


def fit_text_classifier(config: dict[str, Any]) -> Any:
    """Run one trial like :func:`train_text_classifier` and return the trained model.

    Returns:
        The model (a ``peft`` model for ``strategy: lora``), or ``None`` when the
        trial was stopped early.

    Raises:
        ValueError: an unknown config key or a bad value, quoted.
    """
    import json

    import torch

    from hpo.trainables._models import resolve_model

    cfg = resolve_config(config, DEFAULTS, "text_classification")
    ctx = trial_context()
    torch.set_num_threads(max(1, int(cfg["threads"] or ctx.cpus)))
    seed = int(ctx.seed if cfg["seed"] is None else cfg["seed"])
    model_path = resolve_model(str(ctx.model.get("name_or_path", "minilm-l6")))
    encoded, identity = _encoded(model_path, json.dumps(ctx.data, sort_keys=True),
                                 int(cfg["max_length"]))
    train_ids, train_labels = encoded["train"]
    pad = _tokenizer(model_path).pad_token_id or 0
    augment_cfg, augment = _augmenter(cfg, model_path)
    num_labels = identity["num_labels"]
    check_memory_keys(cfg)
    # The GPU Ray assigned to this trial, or the CPU; the precision chosen for it.
    placement = place(str(cfg["precision"]))

    # Token augmentation draws on the CPU: its batches are built there and moved.
    split = _PaddedSplit(train_ids, train_labels, pad,
                         "cpu" if augment is not None else placement.device)

    def train(accumulation: int, facts: dict[str, float]) -> Any:
        model = prepare_model(_fresh_model(model_path, num_labels, seed, cfg["dropout"]), cfg)
        model.to(placement.device)
        model.train()
        batch = int(cfg["batch_size"])
        total_steps = math.ceil(len(train_ids) / batch) * int(cfg["epochs"])
        optimizer, schedule, loss_fn = build_training(model, cfg, total_steps)
        # ``hpo finalize`` scores on a selection split the search never ranked on.
        scored_on = encoded.get("selection", encoded["validation"])
        subset = stratified_subset(scored_on[1], cfg["rung_eval_size"])
        rung_on = scored_on if subset is None else (
            [scored_on[0][i] for i in subset], [scored_on[1][i] for i in subset])
        steps = StepAndReport(model, cfg, optimizer, schedule, len(train_ids),
                              lambda: _evaluate(model, scored_on, pad), ctx.after_report,
                              placement, evaluate_rung=None if subset is None
                              else lambda: _evaluate(model, rung_on, pad))
        steps.facts.update(facts)
        gen = torch.Generator().manual_seed(seed)
        # A second stream for augmentation keeps the batch order the same whatever
        # augmentation a trial samples, so trials differ only in what they vary.
        aug_gen = torch.Generator().manual_seed(seed + 1)
        mix_alpha = float(augment_cfg.embedding_mixup_alpha)
        for epoch in range(int(cfg["epochs"])):
            steps.new_epoch(epoch)
            for input_ids, mask, labels in split.batches(batch, gen,
                                                         bool(cfg["group_by_length"])):
                if should_stop():
                    return None
                if augment is not None:
                    out = augment({"input_ids": input_ids, "attention_mask": mask}, aug_gen)
                    input_ids, mask = out["input_ids"], out["attention_mask"]
                total = 0.0
                for part in micro_batches(accumulation, input_ids, mask, labels):
                    ids, att, lab = (t.to(placement.device, non_blocking=True) for t in part)
                    with placement.autocast():
                        loss = _loss(model, ids, att, lab, loss_fn, mix_alpha, aug_gen,
                                     num_labels) * (len(lab) / len(labels))
                    steps.backward(loss)
                    total += float(loss.item())
                if steps.finish(total, len(labels)):
                    return model
        return model

    return with_oom_retry(cfg, train)


def _loss(model: Any, input_ids: Any, mask: Any, labels: Any, loss_fn: Any, mix_alpha: float,
          aug_gen: Any, num_labels: int) -> Any:
    """One batch's training loss (with embedding mixup when ``mix_alpha`` > 0)."""
    from hpo.augment import mixup_embeddings

    if mix_alpha > 0:
        embeds = model.get_input_embeddings()(input_ids)
        mixed = mixup_embeddings(embeds, labels, mix_alpha, aug_gen,
                                 num_classes=num_labels, attention_mask=mask)
        logits = model(inputs_embeds=mixed.inputs, attention_mask=mixed.attention_mask).logits
        return loss_fn(logits, mixed.labels)
    return loss_fn(model(input_ids=input_ids, attention_mask=mask).logits, labels)


class TextClassification(Trainable):
    """Fine-tunes a text classifier and reports validation accuracy and loss
    ``epochs * evals_per_epoch`` times (config keys in the module docstring); an
    unknown config key or a bad value raises ``ValueError``, quoted."""

    name = "text_classification"
    default_model = "minilm-l6"
    config_keys = frozenset(DEFAULTS)

    def fit(self, config: dict[str, Any]) -> Any:
        return fit_text_classifier(config)

    def data_identity(self, data: dict[str, Any]) -> dict[str, Any]:
        from hpo.data import load_text_data

        return load_text_data(data)[1]

    def estimate_memory(self, config: dict[str, Any], model: dict[str, Any],
                        data: dict[str, Any]) -> Any:
        """Peak GPU memory of a trial: sequences padded to ``max_length`` (the worst
        batch), the config's strategy and precision; see :mod:`hpo.trainables._memory`.
        Two labels are assumed: the head's size does not matter next to the encoder's."""
        from hpo.trainables._models import resolve_model

        cfg = resolve_config(config, DEFAULTS, self.name)
        check_memory_keys(cfg)
        path = resolve_model(str(model.get("name_or_path", self.default_model)))
        length = int(cfg["max_length"])

        def build() -> tuple[Any, Any]:
            import torch

            net = prepare_model(_fresh_model(path, 2, 0, cfg["dropout"]), cfg)

            def forward_at(m: Any, batch: int) -> Any:
                ids = torch.ones((batch, length), dtype=torch.long)
                logits = m(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
                return torch.nn.functional.cross_entropy(
                    logits, torch.zeros(batch, dtype=torch.long))

            return net, forward_at

        return cached_memory_estimate(probe_key(cfg, path, length), build, cfg)

    def test_metrics(self, trained: Any, config: dict[str, Any], model: dict[str, Any],
                     data: dict[str, Any]) -> dict[str, float]:
        import json

        from hpo.trainables._models import resolve_model

        model_path = resolve_model(str(model.get("name_or_path", self.default_model)))
        cfg = resolve_config(config, DEFAULTS, self.name)
        encoded, _ = _encoded(model_path, json.dumps(data, sort_keys=True),
                              int(cfg["max_length"]))
        acc, loss = _evaluate(trained, encoded["test"], _tokenizer(model_path).pad_token_id or 0)
        return {"accuracy": acc, "eval_loss": loss, "examples": float(len(encoded["test"][1]))}

    def save_trained(self, trained: Any, folder: Any, config: dict[str, Any],
                     model: dict[str, Any], data_identity: dict[str, Any], *,
                     lora: str = "merge") -> list[str]:
        """A folder ``AutoModelForSequenceClassification.from_pretrained`` reads (with
        ``lora: adapter``, a peft adapter it reads through peft), plus the tokenizer."""
        from hpo.trainables._base import merge_or_keep_adapter
        from hpo.trainables._models import resolve_model

        model_path = resolve_model(str(model.get("name_or_path", self.default_model)))
        out, _ = merge_or_keep_adapter(trained, lora)
        labels = list(data_identity.get("labels") or [])
        base = out.get_base_model() if hasattr(out, "get_base_model") else out
        if labels:  # class names instead of LABEL_0, LABEL_1 in the saved config
            base.config.id2label = dict(enumerate(labels))
            base.config.label2id = {name: i for i, name in enumerate(labels)}
        out.save_pretrained(str(folder))
        _tokenizer(model_path).save_pretrained(str(folder))
        return sorted(p.name for p in folder.iterdir())


#: The built-in ``text_classification`` trainable.
train_text_classifier = TextClassification()

