"""Image augmentation policies on float tensors, in torch only.

Images are ``[B, C, H, W]`` floats in [0, 1] (augment before normalising); every
function draws its randomness from the ``torch.Generator`` it is given, so one
seed per trial reproduces the whole pipeline. :class:`ImageAugmentConfig` names
a policy family and optional add-ons; :func:`build_image_augmenter` turns it
into ``augment(images, labels, generator) -> (images, labels)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from hpo.augment.image_ops import OPS, affine, apply_ops, blend, grayscale
from hpo.augment.mix import check_alpha, cutmix_images, mixup_images, soft_labels

POLICIES = ("none", "basic", "randaugment", "trivialaugment")
MAX_MAGNITUDE = 30  # RandAugment's magnitude scale, as in the paper's ImageNet runs

ImageAugmenter = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]


def _uniform(n: int, low: float, high: float, generator: torch.Generator,
             device: torch.device) -> Tensor:
    # Drawn on the generator's device, then moved: one CPU generator serves GPU data.
    draw = torch.rand(n, generator=generator, device=generator.device)
    return (low + (high - low) * draw).to(device)


def random_resized_crop(images: Tensor, generator: torch.Generator, *,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Tensor:
    """Crop a random box per image and resize it back to ``H x W``.

    The box covers a fraction of the area drawn from ``scale`` with an aspect
    ratio drawn log-uniformly from ``ratio``; sides that would not fit are
    clipped to the image (instead of redrawing, which keeps the batch
    vectorised). Resampling is bilinear through ``grid_sample``.

    Args:
        images: ``[B, C, H, W]``.
        generator: Source of randomness.
        scale: Range of the crop's area fraction, within (0, 1].
        ratio: Range of the crop's width / height.

    Returns:
        Images of the same shape.
    """
    batch, _, height, width = images.shape
    dev = images.device
    area = _uniform(batch, scale[0], scale[1], generator, dev)
    aspect = torch.exp(_uniform(batch, math.log(ratio[0]), math.log(ratio[1]), generator, dev))
    frac_w = (torch.sqrt(area * aspect) * math.sqrt(height / width)).clamp(max=1.0)
    frac_h = (torch.sqrt(area / aspect) * math.sqrt(width / height)).clamp(max=1.0)
    # Centres in the normalised [-1, 1] frame, chosen so the box stays inside.
    centre_x = (1.0 - frac_w) * (2.0 * _uniform(batch, 0.0, 1.0, generator, dev) - 1.0)
    centre_y = (1.0 - frac_h) * (2.0 * _uniform(batch, 0.0, 1.0, generator, dev) - 1.0)
    theta = torch.zeros(batch, 2, 3, dtype=images.dtype, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = frac_w, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = frac_h, centre_y
    return affine(images, theta)


def horizontal_flip(images: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Mirror each image left-right with probability ``p``."""
    flip = _uniform(images.shape[0], 0.0, 1.0, generator, images.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def _hue_shift(images: Tensor, turns: Tensor) -> Tensor:
    # "Hue-lite": rotate the chroma plane of YIQ, a linear stand-in for HSV hue.
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                           [0.211, -0.523, 0.312]], dtype=images.dtype, device=images.device)
    from_yiq = torch.linalg.inv(to_yiq)
    angle = 2.0 * math.pi * turns.to(images.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(images.shape[0], 3, 3, dtype=images.dtype, device=images.device)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    matrix = from_yiq @ rot @ to_yiq
    return torch.einsum("bij,bjhw->bihw", matrix, images).clamp(0.0, 1.0)


def color_jitter(images: Tensor, generator: torch.Generator, *, brightness: float = 0.0,
                 contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0) -> Tensor:
    """Random brightness, contrast, saturation and hue per image.

    Factors are drawn from ``[1 - s, 1 + s]``, the hue shift from ``[-hue, hue]``
    turns; saturation and hue only apply to 3-channel images. A strength of 0
    skips its step, so all-zero strengths return the input unchanged.

    Args:
        images: ``[B, C, H, W]`` in [0, 1].
        generator: Source of randomness.
        brightness: Strength in [0, 1].
        contrast: Strength >= 0.
        saturation: Strength >= 0.
        hue: Strength in [0, 0.5].

    Returns:
        Images of the same shape.
    """
    batch, dev = images.shape[0], images.device
    out = images
    if brightness > 0:
        factor = _uniform(batch, 1.0 - brightness, 1.0 + brightness, generator, dev)
        out = (out * factor.view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    if contrast > 0:
        factor = _uniform(batch, max(0.0, 1.0 - contrast), 1.0 + contrast, generator, dev)
        mean = grayscale(out).mean(dim=(1, 2, 3), keepdim=True).expand_as(out)
        out = blend(mean, out, factor)
    if saturation > 0 and out.shape[1] == 3:
        factor = _uniform(batch, max(0.0, 1.0 - saturation), 1.0 + saturation, generator, dev)
        out = blend(grayscale(out).expand_as(out), out, factor)
    if hue > 0 and out.shape[1] == 3:
        out = _hue_shift(out, _uniform(batch, -hue, hue, generator, dev))
    return out


def _random_signs(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.where(_uniform(n, 0.0, 1.0, generator, device) < 0.5, -1.0, 1.0)


def _random_ops(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.randint(0, len(OPS), (n,), generator=generator,
                         device=generator.device).to(device)


def randaugment(images: Tensor, generator: torch.Generator, *, num_ops: int = 2,
                magnitude: float = 9.0) -> Tensor:
    """RandAugment: ``num_ops`` uniformly chosen operations per image at one magnitude.

    Args:
        images: ``[B, C, H, W]`` in [0, 1].
        generator: Source of randomness.
        num_ops: Operations applied in sequence to each image.
        magnitude: Strength on the 0..30 scale; the sign is random per image.

    Returns:
        Images of the same shape.
    """
    batch, dev = images.shape[0], images.device
    out = images
    for _ in range(num_ops):
        strength = _random_signs(batch, generator, dev) * (magnitude / MAX_MAGNITUDE)
        out = apply_ops(out, _random_ops(batch, generator, dev), strength)
    return out


def trivialaugment(images: Tensor, generator: torch.Generator) -> Tensor:
    """TrivialAugment: one random operation per image at a random strength."""
    batch, dev = images.shape[0], images.device
    strength = _random_signs(batch, generator, dev) * _uniform(batch, 0.0, 1.0, generator, dev)
    return apply_ops(images, _random_ops(batch, generator, dev), strength)


def random_erasing(images: Tensor, p: float, generator: torch.Generator, *,
                   scale: tuple[float, float] = (0.02, 0.33),
                   ratio: tuple[float, float] = (0.3, 3.3)) -> Tensor:
    """Replace a random rectangle of each image, with probability ``p``, by noise.

    Args:
        images: ``[B, C, H, W]`` in [0, 1].
        p: Probability per image.
        generator: Source of randomness.
        scale: Range of the rectangle's area fraction.
        ratio: Range of its aspect ratio (log-uniform).

    Returns:
        Images of the same shape; the rectangle holds uniform noise in [0, 1].
    """
    batch, _, height, width = images.shape
    dev = images.device
    if p == 0.0:
        return images
    apply = _uniform(batch, 0.0, 1.0, generator, dev) < p
    area = _uniform(batch, scale[0], scale[1], generator, dev) * height * width
    aspect = torch.exp(_uniform(batch, math.log(ratio[0]), math.log(ratio[1]), generator, dev))
    box_h = torch.sqrt(area / aspect).round().clamp(1, height)
    box_w = torch.sqrt(area * aspect).round().clamp(1, width)
    top = torch.floor(_uniform(batch, 0.0, 1.0, generator, dev) * (height - box_h + 1))
    left = torch.floor(_uniform(batch, 0.0, 1.0, generator, dev) * (width - box_w + 1))
    rows = torch.arange(height, device=dev).view(1, -1, 1)
    cols = torch.arange(width, device=dev).view(1, 1, -1)
    inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + box_h).view(-1, 1, 1))
              & (cols >= left.view(-1, 1, 1)) & (cols < (left + box_w).view(-1, 1, 1)))
    noise = torch.rand(images.shape, generator=generator, device=generator.device)
    erase = (inside & apply.view(-1, 1, 1)).unsqueeze(1)
    return torch.where(erase, noise.to(dev, images.dtype), images)


def _check_range(name: str, value: tuple[float, ...], low: float, high: float) -> None:
    if len(value) != 2 or not (low < value[0] <= value[1] <= high):
        raise ValueError(f"{name} must be (lo, hi) with {low} < lo <= hi <= {high}, got {value!r}")


@dataclass(frozen=True)
class ImageAugmentConfig:
    """A trial's image augmentation.

    ``policy`` picks the per-image family: ``"none"``; ``"basic"`` = random
    resized crop + horizontal flip + colour jitter; ``"randaugment"`` and
    ``"trivialaugment"`` = crop + flip + that policy (the usual recipes). Mixup,
    CutMix and random erasing are add-ons that work with every policy.

    Attributes:
        policy: One of :data:`POLICIES`.
        crop_scale: Area fraction range of the random resized crop.
        crop_ratio: Aspect-ratio range of the crop.
        hflip_prob: Probability of a horizontal flip.
        brightness: Colour-jitter strength in [0, 1] (``"basic"`` only).
        contrast: Colour-jitter strength >= 0.
        saturation: Colour-jitter strength >= 0.
        hue: Hue-shift strength in [0, 0.5] turns.
        randaugment_ops: RandAugment's N, operations per image.
        randaugment_magnitude: RandAugment's M on the 0..30 scale.
        erasing_prob: Random-erasing probability per image (0 = off).
        mixup_alpha: Mixup Beta alpha (0 = off).
        cutmix_alpha: CutMix Beta alpha (0 = off); with both on, each batch
            uses one of the two, chosen with equal chance.
        mix_prob: Probability that a batch is mixed at all.
        num_classes: Needed to build soft labels when mixing is on.
    """

    policy: str = "none"
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip_prob: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.0
    randaugment_ops: int = 2
    randaugment_magnitude: float = 9.0
    erasing_prob: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        _check_range("crop_scale", tuple(self.crop_scale), 0.0, 1.0)
        _check_range("crop_ratio", tuple(self.crop_ratio), 0.0, math.inf)
        object.__setattr__(self, "crop_scale", tuple(self.crop_scale))
        object.__setattr__(self, "crop_ratio", tuple(self.crop_ratio))
        for name, high in (("hflip_prob", 1.0), ("brightness", 1.0), ("hue", 0.5),
                           ("erasing_prob", 1.0), ("mix_prob", 1.0),
                           ("contrast", math.inf), ("saturation", math.inf)):
            value = getattr(self, name)
            if not (0.0 <= value <= high):
                raise ValueError(f"{name} must be in [0, {high}], got {value!r}")
        if not isinstance(self.randaugment_ops, int) or not 0 <= self.randaugment_ops <= 10:
            raise ValueError(f"randaugment_ops must be an int in [0, 10], "
                             f"got {self.randaugment_ops!r}")
        if not (0.0 <= self.randaugment_magnitude <= MAX_MAGNITUDE):
            raise ValueError(f"randaugment_magnitude must be in [0, {MAX_MAGNITUDE}], "
                             f"got {self.randaugment_magnitude!r}")
        check_alpha("mixup_alpha", self.mixup_alpha)
        check_alpha("cutmix_alpha", self.cutmix_alpha)
        if self.mixes and (self.num_classes is None or self.num_classes < 1):
            raise ValueError(f"num_classes must be a positive int when mixup or cutmix is on, "
                             f"got {self.num_classes!r}")

    @property
    def mixes(self) -> bool:
        """Whether mixup or CutMix is on (labels then come back soft)."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def build_image_augmenter(cfg: ImageAugmentConfig) -> ImageAugmenter:
    """Turn a config into ``augment(images, labels, generator) -> (images, labels)``.

    Per-image policy first, then random erasing, then batch mixing. With mixing
    on, labels are always returned as soft ``[B, num_classes]`` (also for batches
    the ``mix_prob`` draw leaves unmixed) so the loss sees one label format;
    otherwise labels are returned unchanged.

    Args:
        cfg: The trial's settings.

    Returns:
        The augmenter; ``policy="none"`` without add-ons returns its inputs.
    """

    def augment(images: Tensor, labels: Tensor,
                generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if images.dim() != 4:
            raise ValueError(f"images must be [B, C, H, W], got shape {tuple(images.shape)}")
        out = images
        if cfg.policy != "none":
            out = random_resized_crop(out, generator, scale=cfg.crop_scale, ratio=cfg.crop_ratio)
            out = horizontal_flip(out, cfg.hflip_prob, generator)
        if cfg.policy == "basic":
            out = color_jitter(out, generator, brightness=cfg.brightness, contrast=cfg.contrast,
                               saturation=cfg.saturation, hue=cfg.hue)
        elif cfg.policy == "randaugment":
            out = randaugment(out, generator, num_ops=cfg.randaugment_ops,
                              magnitude=cfg.randaugment_magnitude)
        elif cfg.policy == "trivialaugment":
            out = trivialaugment(out, generator)
        if cfg.erasing_prob > 0:
            out = random_erasing(out, cfg.erasing_prob, generator)
        if not cfg.mixes:
            return out, labels
        if float(torch.rand(1, generator=generator, device=generator.device)) >= cfg.mix_prob:
            return out, soft_labels(labels, cfg.num_classes, out.dtype)
        use_cutmix = cfg.cutmix_alpha > 0 and (
            cfg.mixup_alpha == 0
            or float(torch.rand(1, generator=generator, device=generator.device)) < 0.5)
        if use_cutmix:
            mixed = cutmix_images(out, labels, cfg.cutmix_alpha, generator,
                                  num_classes=cfg.num_classes)
        else:
            mixed = mixup_images(out, labels, cfg.mixup_alpha, generator,
                                 num_classes=cfg.num_classes)
        return mixed.inputs, mixed.labels

    return augment
