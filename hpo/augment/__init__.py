"""Seeded data augmentation for text (token ids) and images (float tensors).

Pure torch: importing this package pulls in neither ``transformers`` nor
``peft``. Every augmenter takes a ``torch.Generator`` so that a trial's seed
fixes its augmentation.
"""

from __future__ import annotations

from hpo.augment.image import (
    POLICIES,
    ImageAugmentConfig,
    ImageAugmenter,
    build_image_augmenter,
    color_jitter,
    horizontal_flip,
    randaugment,
    random_erasing,
    random_resized_crop,
    trivialaugment,
)
from hpo.augment.image_ops import OPS, apply_ops
from hpo.augment.mix import Mixed, cutmix_images, mixup_embeddings, mixup_images
from hpo.augment.text import TextAugmentConfig, TextAugmenter, build_text_augmenter
from hpo.augment.text_ops import random_insertion, random_swap, span_mask, token_dropout

__all__ = [
    "OPS",
    "POLICIES",
    "ImageAugmentConfig",
    "ImageAugmenter",
    "Mixed",
    "TextAugmentConfig",
    "TextAugmenter",
    "apply_ops",
    "build_image_augmenter",
    "build_text_augmenter",
    "color_jitter",
    "cutmix_images",
    "horizontal_flip",
    "mixup_embeddings",
    "mixup_images",
    "randaugment",
    "random_erasing",
    "random_insertion",
    "random_resized_crop",
    "random_swap",
    "span_mask",
    "token_dropout",
    "trivialaugment",
]
