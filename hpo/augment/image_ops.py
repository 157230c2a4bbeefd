"""Tensor-only image operations used by RandAugment and TrivialAugment.

Images are float tensors ``[B, C, H, W]`` with values in [0, 1] (augment before
normalising). Each operation takes the images and a signed strength ``m`` per
image (``[B]``, in [-1, 1]); operations without a direction (posterize,
solarize) use ``|m|`` and the two parameter-free ones (autocontrast, equalize)
ignore it. Strength 1 maps to the largest change, chosen close to the ranges of
the RandAugment paper (30 degrees, shear 0.3, translation 45 %, factors 1 +- 0.9).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

ImageOp = Callable[[Tensor, Tensor], Tensor]

MAX_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.45
MAX_FACTOR = 0.9


def affine(images: Tensor, theta: Tensor) -> Tensor:
    """Resample ``images`` through per-image affine maps ``theta`` [B, 2, 3].

    ``theta`` maps output to input coordinates in the normalised [-1, 1] frame of
    ``torch.nn.functional.affine_grid``; pixels from outside become 0.
    """
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _eye(images: Tensor) -> Tensor:
    theta = torch.zeros(images.shape[0], 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    return theta


def grayscale(images: Tensor) -> Tensor:
    """Luma ``[B, 1, H, W]`` for RGB, the channel mean otherwise."""
    if images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device)
        return (images * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return images.mean(dim=1, keepdim=True)


def blend(base: Tensor, target: Tensor, factor: Tensor) -> Tensor:
    """``base + factor * (target - base)``, clamped to [0, 1]; ``factor`` is [B]."""
    return (base + factor.view(-1, 1, 1, 1) * (target - base)).clamp(0.0, 1.0)


def identity(images: Tensor, m: Tensor) -> Tensor:
    """Return the images unchanged."""
    return images


def rotate(images: Tensor, m: Tensor) -> Tensor:
    """Rotate by up to ``MAX_DEGREES`` around the centre."""
    height, width = images.shape[-2:]
    angle = m.to(images.dtype) * math.radians(MAX_DEGREES)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = _eye(images)
    # The normalised frame stretches x and y differently on non-square images,
    # so the off-diagonal terms carry the aspect ratio.
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * height / width
    theta[:, 1, 0], theta[:, 1, 1] = sin * width / height, cos
    return affine(images, theta)


def shear_x(images: Tensor, m: Tensor) -> Tensor:
    """Horizontal shear by up to ``MAX_SHEAR``."""
    height, width = images.shape[-2:]
    theta = _eye(images)
    theta[:, 0, 1] = m * MAX_SHEAR * height / width
    return affine(images, theta)


def shear_y(images: Tensor, m: Tensor) -> Tensor:
    """Vertical shear by up to ``MAX_SHEAR``."""
    height, width = images.shape[-2:]
    theta = _eye(images)
    theta[:, 1, 0] = m * MAX_SHEAR * width / height
    return affine(images, theta)


def translate_x(images: Tensor, m: Tensor) -> Tensor:
    """Shift horizontally by up to ``MAX_TRANSLATE`` of the width."""
    theta = _eye(images)
    theta[:, 0, 2] = 2.0 * MAX_TRANSLATE * m  # the normalised frame is 2 units wide
    return affine(images, theta)


def translate_y(images: Tensor, m: Tensor) -> Tensor:
    """Shift vertically by up to ``MAX_TRANSLATE`` of the height."""
    theta = _eye(images)
    theta[:, 1, 2] = 2.0 * MAX_TRANSLATE * m
    return affine(images, theta)


def brightness(images: Tensor, m: Tensor) -> Tensor:
    """Scale intensities by ``1 + 0.9 m``."""
    return (images * (1.0 + MAX_FACTOR * m).view(-1, 1, 1, 1)).clamp(0.0, 1.0)


def contrast(images: Tensor, m: Tensor) -> Tensor:
    """Move pixels away from (or towards) the image's mean grey level."""
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True).expand_as(images)
    return blend(mean, images, 1.0 + MAX_FACTOR * m)


def color(images: Tensor, m: Tensor) -> Tensor:
    """Saturation: move pixels away from (or towards) their grey value."""
    return blend(grayscale(images).expand_as(images), images, 1.0 + MAX_FACTOR * m)


def sharpness(images: Tensor, m: Tensor) -> Tensor:
    """Blend with a 3x3 smoothed copy; positive ``m`` sharpens, negative blurs."""
    # Kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, written as a 3x3 box mean plus
    # extra centre weight: pooling is much faster than a grouped convolution on CPU.
    box = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    smooth = (9.0 * box + 4.0 * images) / 13.0
    return blend(smooth, images, 1.0 + MAX_FACTOR * m)


def posterize(images: Tensor, m: Tensor) -> Tensor:
    """Keep ``8 - round(4 |m|)`` bits per channel."""
    dropped = torch.round(4.0 * m.abs()).view(-1, 1, 1, 1)
    step = torch.pow(2.0, dropped).to(images.dtype)
    levels = torch.floor(images.clamp(0.0, 1.0) * 255.0 / step) * step / 255.0
    # Keeping all 8 bits would still quantise float input; strength 0 is a no-op.
    return torch.where(dropped == 0, images, levels)


def solarize(images: Tensor, m: Tensor) -> Tensor:
    """Invert pixels at or above the threshold ``1 - |m|``."""
    threshold = (1.0 - m.abs()).view(-1, 1, 1, 1).to(images.dtype)
    inverted = torch.where(images >= threshold, 1.0 - images, images)
    # |m| == 0 would invert pure white pixels; strength 0 should change nothing.
    return torch.where(threshold >= 1.0, images, inverted)


def autocontrast(images: Tensor, m: Tensor) -> Tensor:
    """Stretch each channel to span [0, 1]."""
    low = images.amin(dim=(2, 3), keepdim=True)
    high = images.amax(dim=(2, 3), keepdim=True)
    span = high - low
    stretched = (images - low) / span.clamp_min(1e-8)
    return torch.where(span > 1e-8, stretched, images)


def equalize(images: Tensor, m: Tensor) -> Tensor:
    """Histogram equalisation per channel over 256 grey levels."""
    batch, channels, height, width = images.shape
    levels = (images.clamp(0.0, 1.0) * 255.0).round().long().view(batch * channels, -1)
    hist = torch.zeros(batch * channels, 256, dtype=images.dtype, device=images.device)
    hist.scatter_add_(1, levels, torch.ones_like(levels, dtype=images.dtype))
    cdf = hist.cumsum(dim=1)
    # Subtracting the first occupied bin maps the darkest level to 0.
    first = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).amin(1, keepdim=True)
    denom = (height * width - first).clamp_min(1.0)
    lut = ((cdf - first) / denom).clamp(0.0, 1.0)
    out = lut.gather(1, levels).view(batch, channels, height, width)
    flat = (hist > 0).sum(dim=1).view(batch, channels, 1, 1) <= 1  # one level: leave as is
    return torch.where(flat, images, out)


OPS: dict[str, ImageOp] = {
    "identity": identity,
    "rotate": rotate,
    "shear_x": shear_x,
    "shear_y": shear_y,
    "translate_x": translate_x,
    "translate_y": translate_y,
    "brightness": brightness,
    "contrast": contrast,
    "color": color,
    "sharpness": sharpness,
    "posterize": posterize,
    "solarize": solarize,
    "autocontrast": autocontrast,
    "equalize": equalize,
}
"""Every operation RandAugment and TrivialAugment draw from, by name."""


def apply_ops(images: Tensor, op_index: Tensor, strength: Tensor,
              ops: tuple[str, ...] = tuple(OPS)) -> Tensor:
    """Apply operation ``ops[op_index[i]]`` with strength ``strength[i]`` to image ``i``.

    Images that drew the same operation are processed together, so the cost is
    one call per distinct operation rather than per image.

    Args:
        images: ``[B, C, H, W]`` in [0, 1].
        op_index: ``[B]`` indices into ``ops``.
        strength: ``[B]`` signed strengths in [-1, 1].
        ops: Names of the operations, keys of :data:`OPS`.

    Returns:
        The transformed batch.
    """
    out = images.clone()
    for k in torch.unique(op_index).tolist():
        chosen = op_index == k
        out[chosen] = OPS[ops[k]](images[chosen], strength[chosen].to(images.dtype))
    return out
