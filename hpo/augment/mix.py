"""Sample-mixing augmentations shared by text and image pipelines.

Mixup blends two examples and their labels with a weight ``lam`` drawn from
``Beta(alpha, alpha)``; CutMix (see :mod:`hpo.augment.image`) pastes a box of one
image into another and weights the labels by area. Both pair each example with
another one of the same batch through a random permutation, and both return soft
labels so that ``torch.nn.CrossEntropyLoss`` (which accepts class probabilities)
can be used unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class Mixed(NamedTuple):
    """Output of a mixing augmentation.

    Attributes:
        inputs: Mixed images ``[B, C, H, W]`` or embeddings ``[B, L, H]``.
        labels: Soft labels ``[B, num_classes]`` (float, rows sum to one).
        attention_mask: For text, the union of the two mixed sequences' masks;
            ``None`` for images or when no mask was given.
    """

    inputs: Tensor
    labels: Tensor
    attention_mask: Tensor | None


def check_alpha(name: str, alpha: float) -> None:
    """Raise a ValueError unless ``alpha`` is a usable Beta concentration.

    Args:
        name: Field name used in the message.
        alpha: The value to check; 0 means "off", otherwise it must be positive.
    """
    if not (alpha >= 0.0) or alpha == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {alpha!r}")


def sample_beta(alpha: float, generator: torch.Generator) -> float:
    """Draw ``lam ~ Beta(alpha, alpha)`` reproducibly from a torch generator.

    torch's Beta distribution cannot take a ``Generator``, so a 63-bit seed is
    drawn from ``generator`` and handed to numpy; the result is still a pure
    function of the generator state.

    Args:
        alpha: Concentration (> 0).
        generator: Source of randomness.

    Returns:
        A float in [0, 1].
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator,
                             device=generator.device).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def soft_labels(labels: Tensor, num_classes: int | None, dtype: torch.dtype) -> Tensor:
    """Turn class ids ``[B]`` into one-hot rows, or pass soft labels through.

    Args:
        labels: Integer class ids ``[B]`` or probabilities ``[B, C]``.
        num_classes: Needed when ``labels`` holds class ids.
        dtype: Floating dtype of the result.

    Returns:
        Float tensor ``[B, C]``.
    """
    if labels.dim() == 2:
        return labels.to(dtype)
    if labels.dim() != 1:
        raise ValueError(f"labels must be [B] class ids or [B, C] soft labels, "
                         f"got shape {tuple(labels.shape)}")
    if num_classes is None or num_classes < 1:
        raise ValueError(f"num_classes must be given (>= 1) for integer labels, "
                         f"got {num_classes!r}")
    return F.one_hot(labels.long(), num_classes).to(dtype)


def random_partner(batch_size: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A random permutation: example ``i`` is mixed with example ``perm[i]``."""
    return torch.randperm(batch_size, generator=generator,
                          device=generator.device).to(device)


def mixup_embeddings(
    embeddings: Tensor,
    labels: Tensor,
    alpha: float,
    generator: torch.Generator,
    *,
    num_classes: int | None = None,
    attention_mask: Tensor | None = None,
) -> Mixed:
    """Mixup on input embeddings (text models have no continuous input otherwise).

    Use it on ``model.get_input_embeddings()(input_ids)`` and feed the result as
    ``inputs_embeds``. ``alpha == 0`` is the identity (labels still become soft).

    Args:
        embeddings: Float tensor ``[B, L, H]``.
        labels: Class ids ``[B]`` or soft labels ``[B, C]``.
        alpha: Beta concentration; 0 switches mixing off.
        generator: Source of randomness (seeded per trial).
        num_classes: Number of classes, required for class-id labels.
        attention_mask: Optional ``[B, L]`` mask; the result's mask is the union
            of both partners' masks so that no mixed-in token is hidden.

    Returns:
        ``Mixed(inputs, labels, attention_mask)``.
    """
    check_alpha("alpha", alpha)
    if embeddings.dim() != 3:
        raise ValueError(f"embeddings must be [B, L, H], got shape {tuple(embeddings.shape)}")
    targets = soft_labels(labels, num_classes, embeddings.dtype)
    if alpha == 0.0 or embeddings.shape[0] < 2:
        return Mixed(embeddings, targets, attention_mask)
    lam = sample_beta(alpha, generator)
    perm = random_partner(embeddings.shape[0], generator, embeddings.device)
    mixed = lam * embeddings + (1.0 - lam) * embeddings[perm]
    mixed_targets = lam * targets + (1.0 - lam) * targets[perm]
    mask = None
    if attention_mask is not None:
        mask = torch.maximum(attention_mask, attention_mask[perm])
    return Mixed(mixed, mixed_targets, mask)


def mixup_images(
    images: Tensor,
    labels: Tensor,
    alpha: float,
    generator: torch.Generator,
    *,
    num_classes: int | None = None,
) -> Mixed:
    """Mixup on a batch of images.

    Args:
        images: Float tensor ``[B, C, H, W]``.
        labels: Class ids ``[B]`` or soft labels ``[B, C]``.
        alpha: Beta concentration; 0 switches mixing off.
        generator: Source of randomness.
        num_classes: Number of classes, required for class-id labels.

    Returns:
        ``Mixed(images, soft_labels, None)``.
    """
    check_alpha("mixup_alpha", alpha)
    targets = soft_labels(labels, num_classes, images.dtype)
    if alpha == 0.0 or images.shape[0] < 2:
        return Mixed(images, targets, None)
    lam = sample_beta(alpha, generator)
    perm = random_partner(images.shape[0], generator, images.device)
    mixed = lam * images + (1.0 - lam) * images[perm]
    return Mixed(mixed, lam * targets + (1.0 - lam) * targets[perm], None)


def cutmix_images(
    images: Tensor,
    labels: Tensor,
    alpha: float,
    generator: torch.Generator,
    *,
    num_classes: int | None = None,
) -> Mixed:
    """CutMix: paste a random box of a partner image; labels weighted by area.

    Args:
        images: Float tensor ``[B, C, H, W]``.
        labels: Class ids ``[B]`` or soft labels ``[B, C]``.
        alpha: Beta concentration; 0 switches mixing off.
        generator: Source of randomness.
        num_classes: Number of classes, required for class-id labels.

    Returns:
        ``Mixed(images, soft_labels, None)``.
    """
    check_alpha("cutmix_alpha", alpha)
    targets = soft_labels(labels, num_classes, images.dtype)
    if alpha == 0.0 or images.shape[0] < 2:
        return Mixed(images, targets, None)
    height, width = images.shape[-2:]
    lam = sample_beta(alpha, generator)
    # Box with area (1 - lam) * H * W, centred anywhere and clipped to the image.
    cut = (1.0 - lam) ** 0.5
    box_h, box_w = int(height * cut), int(width * cut)
    cy = int(torch.randint(0, height, (1,), generator=generator, device=generator.device))
    cx = int(torch.randint(0, width, (1,), generator=generator, device=generator.device))
    y0, y1 = max(cy - box_h // 2, 0), min(cy + box_h // 2, height)
    x0, x1 = max(cx - box_w // 2, 0), min(cx + box_w // 2, width)
    perm = random_partner(images.shape[0], generator, images.device)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm][:, :, y0:y1, x0:x1]
    # Clipping changes the pasted area, so the label weight follows the real box.
    lam_real = 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
    return Mixed(mixed, lam_real * targets + (1.0 - lam_real) * targets[perm], None)
