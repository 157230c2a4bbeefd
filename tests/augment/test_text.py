"""Tests for token-level text augmentation and embedding mixup."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hpo.augment import (
    TextAugmentConfig,
    build_text_augmenter,
    mixup_embeddings,
    random_insertion,
    random_swap,
    span_mask,
    token_dropout,
)

CLS, SEP, PAD, MASK, VOCAB = 101, 102, 0, 103, 200
SPECIAL = (CLS, SEP, PAD, MASK)


def make_batch() -> dict[str, torch.Tensor]:
    """Single sentences, a sentence pair and a row with no padding left."""
    ids = torch.tensor([
        [CLS, 5, 6, 7, 8, 9, 10, SEP, PAD, PAD, PAD, PAD],
        [CLS, 11, 12, 13, SEP, 21, 22, 23, SEP, PAD, PAD, PAD],
        [CLS, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, SEP],
        [CLS, 41, SEP, PAD, PAD, PAD, PAD, PAD, PAD, PAD, PAD, PAD],
    ])
    types = torch.zeros_like(ids)
    types[1, 5:9] = 1
    return {"input_ids": ids, "attention_mask": (ids != PAD).long(),
            "token_type_ids": types, "labels": torch.tensor([0, 1, 1, 0])}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


OPS: dict[str, Callable[..., dict[str, torch.Tensor]]] = {
    "token_dropout": lambda b, p, g: token_dropout(b, p, g, special_ids=SPECIAL, pad_id=PAD),
    "random_swap": lambda b, p, g: random_swap(b, p, g, special_ids=SPECIAL),
    "random_insertion": lambda b, p, g: random_insertion(
        b, p, g, special_ids=SPECIAL, vocab_size=VOCAB, pad_id=PAD, mask_id=MASK),
    "span_mask": lambda b, p, g: span_mask(b, p, g, special_ids=SPECIAL, mask_id=MASK),
    "composed": lambda b, p, g: build_text_augmenter(TextAugmentConfig(
        token_dropout=p / 2, random_swap=p, random_insertion=p, span_mask=p / 2,
        special_ids=(CLS, SEP, MASK), pad_id=PAD, mask_id=MASK, vocab_size=VOCAB))(b, g),
}


def assert_valid(out: dict[str, torch.Tensor], original: dict[str, torch.Tensor]) -> None:
    """Shapes, labels, right padding and protected tokens are all intact."""
    ids, mask = out["input_ids"], out["attention_mask"]
    assert ids.shape == original["input_ids"].shape
    assert mask.shape == ids.shape and out["token_type_ids"].shape == ids.shape
    assert torch.equal(out["labels"], original["labels"])
    assert bool((mask[:, 1:] <= mask[:, :-1]).all()), "padding must stay at the end"
    assert bool((ids[mask == 0] == PAD).all())
    assert bool((ids[mask == 1] != PAD).all())
    for row in range(ids.shape[0]):
        assert protected(out, row) == protected(original, row)
        assert int(ids[row, 0]) == CLS and int(ids[row, int(mask[row].sum()) - 1]) == SEP


def protected(batch: dict[str, torch.Tensor], row: int) -> list[tuple[int, int]]:
    """The row's [CLS]/[SEP] tokens with their segment ids, in order."""
    real = batch["attention_mask"][row].bool()
    pairs = zip(batch["input_ids"][row][real].tolist(),
                batch["token_type_ids"][row][real].tolist(), strict=True)
    return [(t, s) for t, s in pairs if t in (CLS, SEP)]


@pytest.mark.parametrize("name", list(OPS))
def test_zero_probability_is_identity(name: str) -> None:
    batch = make_batch()
    out = OPS[name](batch, 0.0, gen(0))
    for key, value in batch.items():
        assert torch.equal(out[key], value), key


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("seed", range(5))
def test_output_is_valid(name: str, seed: int) -> None:
    batch = make_batch()
    assert_valid(OPS[name](batch, 0.5, gen(seed)), batch)


@pytest.mark.parametrize("name", list(OPS))
def test_seeded(name: str) -> None:
    batch = make_batch()
    first, again = OPS[name](batch, 0.5, gen(7)), OPS[name](batch, 0.5, gen(7))
    assert all(torch.equal(first[k], again[k]) for k in first)
    others = [OPS[name](batch, 0.5, gen(s))["input_ids"] for s in range(8, 12)]
    assert any(not torch.equal(first["input_ids"], o) for o in others)


def test_full_dropout_leaves_only_special_tokens() -> None:
    out = token_dropout(make_batch(), 1.0, gen(0), special_ids=SPECIAL, pad_id=PAD)
    assert out["input_ids"][1, :4].tolist() == [CLS, SEP, SEP, PAD]
    # The pair's second [SEP] keeps its segment id when it moves left.
    assert out["token_type_ids"][1, :3].tolist() == [0, 0, 1]
    assert out["attention_mask"].sum(1).tolist() == [2, 3, 2, 2]


def test_insertion_grows_into_padding_only() -> None:
    batch = make_batch()
    out = random_insertion(batch, 1.0, gen(3), special_ids=SPECIAL, vocab_size=VOCAB,
                           pad_id=PAD, mask_id=MASK, copy_prob=0.0)
    lengths = out["attention_mask"].sum(1).tolist()
    assert lengths == [12, 12, 12, 4]  # full rows cannot grow; row 3 has one token
    assert torch.equal(out["input_ids"][2], batch["input_ids"][2])
    inserted = out["input_ids"][3, 2]
    assert int(inserted) not in SPECIAL and 0 <= int(inserted) < VOCAB


def test_copy_insertion_uses_nearby_tokens() -> None:
    batch = make_batch()
    out = random_insertion(batch, 1.0, gen(4), special_ids=SPECIAL, vocab_size=None,
                           copy_prob=1.0)
    for row in range(4):
        real = set(batch["input_ids"][row].tolist())
        assert set(out["input_ids"][row].tolist()) <= real


def test_swap_stays_inside_segment() -> None:
    batch = make_batch()
    for seed in range(10):
        out = random_swap(batch, 1.0, gen(seed), special_ids=SPECIAL)
        assert sorted(out["input_ids"][1, 1:4].tolist()) == [11, 12, 13]
        assert sorted(out["input_ids"][1, 5:8].tolist()) == [21, 22, 23]


def test_span_mask_masks_only_regular_tokens() -> None:
    batch = make_batch()
    out = span_mask(batch, 1.0, gen(0), special_ids=SPECIAL, mask_id=MASK)
    regular = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"],
                                                           torch.tensor(SPECIAL))
    assert bool((out["input_ids"][regular] == MASK).all())
    assert torch.equal(out["input_ids"][~regular], batch["input_ids"][~regular])
    assert torch.equal(out["attention_mask"], batch["attention_mask"])


def test_left_padding_is_rejected() -> None:
    batch = make_batch()
    batch["attention_mask"] = batch["attention_mask"].flip(1)
    with pytest.raises(ValueError, match="right-padded"):
        token_dropout(batch, 0.1, gen(0), special_ids=SPECIAL)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"token_dropout": 1.5}, "token_dropout must be in [0, 1], got 1.5"),
    ({"random_swap": -0.1}, "random_swap must be in [0, 1], got -0.1"),
    ({"span_mask": 0.2}, "mask_id is required when span_mask > 0, got span_mask=0.2"),
    ({"max_span": 0}, "max_span must be an int >= 1, got 0"),
    ({"random_insertion": 0.1}, "vocab_size must be a positive int"),
    ({"embedding_mixup_alpha": -1.0}, "got -1.0"),
])
def test_config_validation_quotes_value(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        TextAugmentConfig(**kwargs)
    assert message in str(info.value)


def test_config_with_tokenizer() -> None:
    class FakeTokenizer:
        all_special_ids = [CLS, SEP, PAD, MASK, 100]
        pad_token_id, mask_token_id = PAD, MASK

        def __len__(self) -> int:
            return VOCAB

    cfg = TextAugmentConfig(span_mask=0.1, mask_id=1).with_tokenizer(FakeTokenizer())
    assert cfg.special_ids == (CLS, SEP, PAD, MASK, 100)
    assert (cfg.mask_id, cfg.vocab_size, cfg.pad_id) == (MASK, VOCAB, PAD)
    assert not TextAugmentConfig().enabled and cfg.enabled


def test_mixup_embeddings() -> None:
    embeds = torch.randn(6, 5, 8, generator=gen(0))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    mask = torch.ones(6, 5, dtype=torch.long)
    mask[0, 3:] = 0
    same = mixup_embeddings(embeds, labels, 0.0, gen(1), num_classes=3, attention_mask=mask)
    assert torch.equal(same.inputs, embeds) and torch.equal(same.attention_mask, mask)
    assert torch.equal(same.labels, torch.nn.functional.one_hot(labels, 3).float())
    mixed = mixup_embeddings(embeds, labels, 0.4, gen(1), num_classes=3, attention_mask=mask)
    again = mixup_embeddings(embeds, labels, 0.4, gen(1), num_classes=3, attention_mask=mask)
    assert mixed.inputs.shape == embeds.shape and mixed.labels.shape == (6, 3)
    assert torch.allclose(mixed.labels.sum(1), torch.ones(6))
    assert torch.equal(mixed.inputs, again.inputs) and torch.equal(mixed.labels, again.labels)
    assert bool((mixed.attention_mask >= mask).all())
    other = mixup_embeddings(embeds, labels, 0.4, gen(2), num_classes=3)
    assert not torch.equal(mixed.inputs, other.inputs)
    with pytest.raises(ValueError, match=r"got -0\.5"):
        mixup_embeddings(embeds, labels, -0.5, gen(0), num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        mixup_embeddings(embeds, labels, 0.4, gen(0))


def test_import_stays_light() -> None:
    code = ("import sys, hpo.augment; "
            "print(sorted(m for m in ('transformers', 'peft') if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"
