"""Built-in trainable: fine-tune a pre-trained image classifier.

Config keys (all optional, searchable or fixed in the space; unknown keys are an error):
  training: learning_rate (1e-3), weight_decay (0.01), batch_size (32), epochs (3),
    warmup_ratio (0.0), lr_schedule (cosine | linear | constant), optimizer
    (adamw | adam | sgd), momentum (0.9, sgd), max_grad_norm (1.0; 0 = off),
    label_smoothing (0.0), dropout (before the head; model default),
    drop_connect_rate (EfficientNet stochastic depth; model default), image_size (64),
    evals_per_epoch (1), rung_eval_size (128: validation examples scored by the
    evaluations before an epoch's end, which feed only the scheduler; None: all),
    seed (the trial's seed), threads (the trial's CPUs),
    precision (auto | fp32 | bf16 | fp16), grad_accumulation (1), oom (fail | retry);
  fine-tuning: strategy (full | linear_probe | freeze_bottom | lora), freeze_layers (0;
    EfficientNet-Lite0 has 16 blocks), lora_rank, lora_alpha, lora_dropout, lora_targets
    (EfficientNet: the 1x1 expand/project convolutions), layer_decay, head_lr;
  augmentation of training batches (see :class:`hpo.augment.ImageAugmentConfig`):
    policy (none | basic | randaugment | trivialaugment), crop_scale_min (0.08),
    hflip_prob (0.5), brightness, contrast, saturation (0.4, basic), hue (0.0, basic),
    randaugment_ops (2), randaugment_magnitude (9), erasing_prob, mixup_alpha,
    cutmix_alpha (0 = off), mix_prob (1.0).
The ``model`` section's ``name_or_path`` is ``efficientnet-lite0`` (ImageNet weights
from a pip package, offline) or a ``transformers`` image-classification folder or
hub name; the ``data`` section is read by :func:`hpo.data.load_image_data`. Grey
images become 3 channels, every image is resized to ``image_size`` once per worker,
and ImageNet normalisation follows augmentation. Reports ``accuracy``,
``eval_loss``, ``train_loss``, ``epoch`` and ``examples`` after fixed numbers of
training examples, like the text trainable.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from torch import nn

from hpo.trainables._base import Trainable
from hpo.trainables._common import (
    FINETUNE_DEFAULTS,
    StepAndReport,
    build_training,
    cached_memory_estimate,
    check_memory_keys,
    freeze_frozen_norms,
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
    "learning_rate": 1e-3, "lr_schedule": "cosine", "image_size": 64, "drop_connect_rate": None,
    "policy": "none", "crop_scale_min": 0.08, "hflip_prob": 0.5, "brightness": 0.4,
    "contrast": 0.4, "saturation": 0.4, "hue": 0.0, "randaugment_ops": 2,
    "randaugment_magnitude": 9.0, "erasing_prob": 0.0, "mixup_alpha": 0.0, "cutmix_alpha": 0.0,
    "mix_prob": 1.0,
}
_AUGMENT_KEYS = ("policy", "hflip_prob", "brightness", "contrast", "saturation", "hue",
                 "randaugment_ops", "randaugment_magnitude", "erasing_prob", "mixup_alpha",
                 "cutmix_alpha", "mix_prob")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_tensor(images: Any, size: int) -> Any:
    """``[N, 3, size, size]`` floats in [0, 1] from PIL images or flattened square grey rows."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    def resize(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False).clamp(0.0, 1.0)

    if isinstance(images, np.ndarray) and images.ndim == 2:
        side = math.isqrt(images.shape[1])
        grey = torch.from_numpy(images.reshape(-1, 1, side, side).astype(np.float32) / 255.0)
        return resize(grey).expand(-1, 3, -1, -1).contiguous()
    out = []
    for img in images:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        out.append(resize(torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)))
    return torch.cat(out)


@lru_cache(maxsize=4)
def _pixels(data_key: str, size: int) -> tuple[dict[str, tuple[Any, Any]], dict[str, Any]]:
    # Cached per worker: an actor reused for many trials decodes and resizes once.

    from hpo.data import load_image_data

    splits, identity = load_image_data(json.loads(data_key))
    # The test split is decoded only in ``test_metrics``, never in a search worker.
    out = {name: _split_tensors(ds, size) for name, ds in splits.items() if name != "test"}
    return out, identity


def _split_tensors(ds: Any, size: int) -> tuple[Any, Any]:
    import torch

    # Pixel rows come out as one numpy array; image files as PIL images.
    pil = type(ds.features["image"]).__name__ == "Image"
    column = list(ds["image"]) if pil else ds.with_format("numpy")[:]["image"]
    return _to_tensor(column, size), torch.tensor(list(ds["label"]))


def _build_model(name_or_path: str, num_labels: int, cfg: dict[str, Any], seed: int) -> Any:
    import torch

    from hpo.trainables._models import IMAGE_CHECKPOINTS

    if name_or_path in IMAGE_CHECKPOINTS:
        from hpo.trainables._efficientnet import LORA_TARGETS, build_efficientnet_lite0

        model = build_efficientnet_lite0(num_labels, int(cfg["image_size"]), seed,
                                         dropout=cfg["dropout"],
                                         drop_connect_rate=cfg["drop_connect_rate"])
        return prepare_model(model, cfg, LORA_TARGETS)
    from transformers import AutoModelForImageClassification

    from hpo.trainables._models import resolve_model

    torch.manual_seed(seed)  # the new head's initialisation
    hf = AutoModelForImageClassification.from_pretrained(
        resolve_model(name_or_path), num_labels=num_labels, ignore_mismatched_sizes=True)
    return prepare_model(_Logits(hf), cfg)


class _Logits(nn.Module):
    """Calls a ``transformers`` classifier with ``pixel_values`` and returns its logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Any) -> Any:
        return self.model(pixel_values=images).logits


def _evaluate(model: Any, images: Any, labels: Any, normalise: Any) -> tuple[float, float]:
    import torch

    device = next(model.parameters()).device  # wherever the trial trained it
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.inference_mode():
        for start in range(0, len(labels), 128):
            logits = model(normalise(images[start:start + 128].to(device, non_blocking=True)))
            target = labels[start:start + 128].to(device, non_blocking=True)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
    model.train()
    return correct / len(labels), loss_sum / len(labels)


def fit_image_classifier(config: dict[str, Any]) -> Any:
    """Run one trial like :func:`train_image_classifier` and return the trained model.

    Returns:
        The model (a ``peft`` model for ``strategy: lora``), or ``None`` when the
        trial was stopped early.

    Raises:
        ValueError: an unknown config key or a bad value, quoted.
    """
    import torch

    from hpo.augment import ImageAugmentConfig, build_image_augmenter

    cfg = resolve_config(config, DEFAULTS, "image_classification")
    ctx = trial_context()
    torch.set_num_threads(max(1, int(cfg["threads"] or ctx.cpus)))
    seed = int(ctx.seed if cfg["seed"] is None else cfg["seed"])
    size = int(cfg["image_size"])
    if not 16 <= size <= 1024:
        raise ValueError(f"image_size must be an int in [16, 1024], got {cfg['image_size']!r}")
    pixels, identity = _pixels(json.dumps(ctx.data, sort_keys=True), size)
    train_x, train_y = pixels["train"]
    num_labels = len(identity["labels"])
    augment_cfg = ImageAugmentConfig(crop_scale=(float(cfg["crop_scale_min"]), 1.0),
                                     num_classes=num_labels,
                                     **{k: cfg[k] for k in _AUGMENT_KEYS})
    augment = build_image_augmenter(augment_cfg)
    check_memory_keys(cfg)
    # The GPU Ray assigned to this trial, or the CPU; the precision chosen for it. The
    # training images move to it once (1,000 images of 64 px are 49 MB), so the GPU
    # never waits on a host copy between steps.
    placement = place(str(cfg["precision"]))
    device = placement.device
    train_x, train_y = train_x.to(device), train_y.to(device)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - mean) / std

    def train(accumulation: int, facts: dict[str, float]) -> Any:
        model = _build_model(str(ctx.model.get("name_or_path", "efficientnet-lite0")),
                             num_labels, cfg, seed)
        model.to(device)
        model.train()
        freeze_frozen_norms(model)
        batch = int(cfg["batch_size"])
        total_steps = math.ceil(len(train_y) / batch) * int(cfg["epochs"])
        optimizer, schedule, loss_fn = build_training(model, cfg, total_steps)

        # ``hpo finalize`` scores on a selection split the search never ranked on.
        scored_on = pixels.get("selection", pixels["validation"])
        subset = stratified_subset(scored_on[1].tolist(), cfg["rung_eval_size"])

        def evaluate(on: Any = scored_on) -> tuple[float, float]:
            images, labels = on
            result = _evaluate(model, images, labels, normalise)
            freeze_frozen_norms(model)  # _evaluate puts the model back in train mode
            return result

        picked = None if subset is None else torch.tensor(subset)
        rung_on = scored_on if picked is None else (scored_on[0][picked], scored_on[1][picked])
        steps = StepAndReport(model, cfg, optimizer, schedule, len(train_y), evaluate,
                              ctx.after_report, placement,
                              evaluate_rung=None if picked is None else lambda: evaluate(rung_on))
        steps.facts.update(facts)
        gen = torch.Generator().manual_seed(seed)
        # Augmentation draws from its own stream so the batch order does not depend
        # on which augmentation a trial sampled.
        aug_gen = torch.Generator().manual_seed(seed + 1)
        for epoch in range(int(cfg["epochs"])):
            steps.new_epoch(epoch)
            order = torch.randperm(len(train_y), generator=gen).to(device)
            for start in range(0, len(order), batch):
                if should_stop():
                    return None
                idx = order[start:start + batch]
                images, targets = augment(train_x[idx], train_y[idx], aug_gen)
                total = 0.0
                for part_x, part_y in micro_batches(accumulation, images, targets):
                    with placement.autocast():
                        loss = loss_fn(model(normalise(part_x)), part_y) * (
                            len(part_y) / len(targets))
                    steps.backward(loss)
                    total += float(loss.item())
                if steps.finish(total, len(idx)):
                    return model
        return model

    return with_oom_retry(cfg, train)


class ImageClassification(Trainable):
    """Fine-tunes an image classifier and reports validation accuracy and loss
    ``epochs * evals_per_epoch`` times (config keys in the module docstring); an
    unknown config key or a bad value raises ``ValueError``, quoted."""

    name = "image_classification"
    default_model = "efficientnet-lite0"
    config_keys = frozenset(DEFAULTS)

    def fit(self, config: dict[str, Any]) -> Any:
        return fit_image_classifier(config)

    def data_identity(self, data: dict[str, Any]) -> dict[str, Any]:
        from hpo.data import load_image_data

        return load_image_data(data)[1]

    def estimate_memory(self, config: dict[str, Any], model: dict[str, Any],
                        data: dict[str, Any]) -> Any:
        """Peak GPU memory of a trial at the config's ``image_size``, strategy and
        precision (ten labels assumed; the head is small); see
        :mod:`hpo.trainables._memory`."""
        cfg = resolve_config(config, DEFAULTS, self.name)
        check_memory_keys(cfg)
        name = str(model.get("name_or_path", self.default_model))
        size = int(cfg["image_size"])

        def build() -> tuple[Any, Any]:
            import torch

            net = _build_model(name, 10, cfg, 0)

            def forward_at(m: Any, batch: int) -> Any:
                logits = m(torch.zeros((batch, 3, size, size)))
                return torch.nn.functional.cross_entropy(
                    logits, torch.zeros(batch, dtype=torch.long))

            return net, forward_at

        return cached_memory_estimate(probe_key(cfg, name, size, cfg["drop_connect_rate"]),
                                      build, cfg)

    def test_metrics(self, trained: Any, config: dict[str, Any], model: dict[str, Any],
                     data: dict[str, Any]) -> dict[str, float]:
        import torch

        from hpo.data import load_image_data

        cfg = resolve_config(config, DEFAULTS, self.name)
        # The test split is decoded only here, never in a search worker.
        splits, _ = load_image_data(data)
        images, labels = _split_tensors(splits["test"], int(cfg["image_size"]))
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        acc, loss = _evaluate(trained, images, labels, lambda x: (x - mean) / std)
        return {"accuracy": acc, "eval_loss": loss, "examples": float(len(labels))}

    def save_trained(self, trained: Any, folder: Any, config: dict[str, Any],
                     model: dict[str, Any], data_identity: dict[str, Any], *,
                     lora: str = "merge") -> list[str]:
        """EfficientNet-Lite0: ``model.pt`` (state dict) and ``hpo_model.json``, read by
        :func:`load_trained`; a ``transformers`` model: its own ``save_pretrained`` folder.
        Both get ``preprocessor_config.json`` (size, ImageNet mean and std)."""
        import torch

        from hpo.trainables._base import merge_or_keep_adapter
        from hpo.trainables._models import IMAGE_CHECKPOINTS

        cfg = resolve_config(config, DEFAULTS, self.name)
        name = str(model.get("name_or_path", self.default_model))
        out, adapter = merge_or_keep_adapter(trained, lora)
        labels = list(data_identity.get("labels") or [])
        size = int(cfg["image_size"])
        processor = {"do_resize": True, "size": {"height": size, "width": size},
                     "do_normalize": True, "image_mean": list(IMAGENET_MEAN),
                     "image_std": list(IMAGENET_STD), "do_rescale": True,
                     "rescale_factor": 1 / 255}
        (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
        if name in IMAGE_CHECKPOINTS:
            if adapter:
                out = out.merge_and_unload()  # the checkpoint loader reads plain weights
            torch.save(out.state_dict(), folder / "model.pt")
            (folder / "hpo_model.json").write_text(json.dumps({
                "architecture": name, "num_classes": len(labels), "image_size": size,
                "labels": labels, "merged_lora": cfg["strategy"] == "lora"}, indent=2))
        else:
            inner: Any = out.model if isinstance(out, _Logits) else out
            if labels and hasattr(inner, "config"):
                inner.config.id2label = dict(enumerate(labels))
                inner.config.label2id = {n: i for i, n in enumerate(labels)}
            inner.save_pretrained(str(folder))
        return sorted(p.name for p in folder.iterdir())


def load_trained(folder: str) -> Any:
    """An EfficientNet-Lite0 saved by ``hpo train`` (``model.pt`` + ``hpo_model.json``), in
    eval mode; it takes ImageNet-normalised ``[N, 3, size, size]`` images."""
    from pathlib import Path

    import torch

    from hpo.trainables._efficientnet import build_efficientnet_lite0

    root = Path(folder)
    meta = json.loads((root / "hpo_model.json").read_text())
    net = build_efficientnet_lite0(int(meta["num_classes"]), int(meta["image_size"]), 0)
    net.load_state_dict(torch.load(root / "model.pt", map_location="cpu"))
    return net.eval()


#: The built-in ``image_classification`` trainable.
train_image_classifier = ImageClassification()

