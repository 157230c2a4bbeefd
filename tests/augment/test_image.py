"""Tests for tensor-only image augmentation."""

from __future__ import annotations

import pytest
import torch

from hpo.augment import (
    OPS,
    POLICIES,
    ImageAugmentConfig,
    build_image_augmenter,
    color_jitter,
    cutmix_images,
    horizontal_flip,
    mixup_images,
    randaugment,
    random_erasing,
    random_resized_crop,
    trivialaugment,
)
from hpo.augment.image_ops import apply_ops, equalize, posterize


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(batch: int = 4, channels: int = 3, height: int = 16, width: int = 16) -> torch.Tensor:
    return torch.rand(batch, channels, height, width, generator=gen(123))


LABELS = torch.tensor([0, 1, 2, 1])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("addons", [{}, {"mixup_alpha": 0.4}, {"cutmix_alpha": 1.0},
                                    {"mixup_alpha": 0.2, "cutmix_alpha": 1.0,
                                     "erasing_prob": 0.5, "hue": 0.1}])
def test_policies_keep_shapes_and_range(policy: str, addons: dict[str, float]) -> None:
    cfg = ImageAugmentConfig(policy=policy, num_classes=3, **addons)
    x = images(height=12, width=20)
    out, labels = build_image_augmenter(cfg)(x, LABELS, gen(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    if cfg.mixes:
        assert labels.shape == (4, 3)
        assert torch.allclose(labels.sum(1), torch.ones(4))
    else:
        assert torch.equal(labels, LABELS)


@pytest.mark.parametrize("policy", POLICIES[1:])
def test_seeded(policy: str) -> None:
    cfg = ImageAugmentConfig(policy=policy, erasing_prob=0.5, cutmix_alpha=1.0, num_classes=3)
    augment, x = build_image_augmenter(cfg), images()
    first, again = augment(x, LABELS, gen(5)), augment(x, LABELS, gen(5))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], augment(x, LABELS, gen(6))[0])


def test_none_policy_is_identity() -> None:
    x = images()
    out, labels = build_image_augmenter(ImageAugmentConfig())(x, LABELS, gen(0))
    assert out is x and labels is LABELS


def test_zero_strength_is_identity() -> None:
    x = images()
    crop = random_resized_crop(x, gen(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(crop, x, atol=1e-5)
    assert torch.equal(horizontal_flip(x, 0.0, gen(0)), x)
    assert torch.equal(color_jitter(x, gen(0)), x)
    assert torch.equal(randaugment(x, gen(0), num_ops=0), x)
    assert torch.equal(random_erasing(x, 0.0, gen(0)), x)
    assert torch.equal(mixup_images(x, LABELS, 0.0, gen(0), num_classes=3).inputs, x)
    assert torch.equal(cutmix_images(x, LABELS, 0.0, gen(0), num_classes=3).inputs, x)


@pytest.mark.parametrize("name", sorted(set(OPS) - {"autocontrast", "equalize"}))
def test_ops_at_zero_strength_are_identity(name: str) -> None:
    x = images(height=10, width=14)
    assert torch.allclose(OPS[name](x, torch.zeros(4)), x, atol=1e-5)


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_keep_shape_and_range(name: str) -> None:
    x = images(channels=3, height=10, width=14)
    for strength in (-1.0, 0.5, 1.0):
        out = OPS[name](x, torch.full((4,), strength))
        assert out.shape == x.shape
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6


def test_ops_change_images_at_full_strength() -> None:
    x = images()
    changed = {n for n, op in OPS.items() if not torch.allclose(op(x, torch.ones(4)), x)}
    assert changed == set(OPS) - {"identity"}


def test_apply_ops_routes_each_image() -> None:
    x = images()
    index = torch.tensor([list(OPS).index("identity"), list(OPS).index("solarize")] * 2)
    out = apply_ops(x, index, torch.ones(4))
    assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2])
    assert torch.allclose(out[1], 1.0 - x[1])  # threshold 0 inverts everything


def test_flip_with_probability_one() -> None:
    x = images()
    assert torch.equal(horizontal_flip(x, 1.0, gen(0)), x.flip(-1))


def test_posterize_and_equalize() -> None:
    x = images(batch=2)
    levels = posterize(x, torch.ones(2))
    assert torch.unique(torch.round(levels * 255)).numel() <= 16
    flat = equalize(x, torch.zeros(2))
    # A uniform histogram after equalisation: about a quarter of pixels below 0.25.
    share = float((flat < 0.25).float().mean())
    assert 0.15 < share < 0.35


def test_grayscale_images_are_supported() -> None:
    x = images(channels=1)
    for policy in POLICIES:
        cfg = ImageAugmentConfig(policy=policy, hue=0.2)
        assert build_image_augmenter(cfg)(x, LABELS, gen(1))[0].shape == x.shape
    assert trivialaugment(x, gen(0)).shape == x.shape


def two_tone() -> tuple[torch.Tensor, torch.Tensor]:
    """A black image of class 0 and a white image of class 1."""
    x = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    return x, torch.tensor([0, 1])


@pytest.mark.parametrize("mix", [mixup_images, cutmix_images])
def test_mixed_labels_match_mixed_pixels(mix: object) -> None:
    x, labels = two_tone()
    for seed in range(6):
        out = mix(x, labels, 1.0, gen(seed), num_classes=2)  # type: ignore[operator]
        # The share of "white" in each image equals the label weight of class 1.
        assert torch.allclose(out.inputs.mean(dim=(1, 2, 3)), out.labels[:, 1], atol=1e-6)
        assert torch.allclose(out.labels.sum(1), torch.ones(2))


def test_random_erasing_changes_a_box() -> None:
    x = torch.full((4, 3, 16, 16), 0.5)
    out = random_erasing(x, 1.0, gen(0), scale=(0.1, 0.1), ratio=(1.0, 1.0))
    changed = (out != x).any(dim=1).float().sum(dim=(1, 2))
    assert bool((changed > 10).all()) and bool((changed <= 36).all())


def test_mix_prob_zero_gives_one_hot_labels() -> None:
    cfg = ImageAugmentConfig(mixup_alpha=1.0, mix_prob=0.0, num_classes=3)
    x = images()
    out, labels = build_image_augmenter(cfg)(x, LABELS, gen(0))
    assert torch.equal(out, x)
    assert torch.equal(labels, torch.nn.functional.one_hot(LABELS, 3).float())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"policy": "autoaugment"}, "got 'autoaugment'"),
    ({"crop_scale": (0.5, 0.2)}, "got (0.5, 0.2)"),
    ({"crop_ratio": (0.0, 1.0)}, "got (0.0, 1.0)"),
    ({"hflip_prob": 2.0}, "hflip_prob must be in [0, 1.0], got 2.0"),
    ({"hue": 0.7}, "got 0.7"),
    ({"randaugment_ops": -1}, "got -1"),
    ({"randaugment_magnitude": 31}, "got 31"),
    ({"mixup_alpha": -0.2}, "got -0.2"),
    ({"cutmix_alpha": 1.0}, "num_classes must be a positive int"),
])
def test_config_validation_quotes_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ImageAugmentConfig(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
