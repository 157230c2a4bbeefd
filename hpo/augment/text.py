"""Text augmentation settings and the composed, seeded augmenter.

The single operations live in :mod:`hpo.augment.text_ops`; this module holds the
frozen :class:`TextAugmentConfig` a trial samples and :func:`build_text_augmenter`,
which turns it into ``augment(batch, generator) -> batch``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hpo.augment.text_ops import (
    Batch,
    check_probability,
    random_insertion,
    random_swap,
    span_mask,
    token_dropout,
)

TextAugmenter = Callable[[Mapping[str, Tensor], torch.Generator], Batch]


@dataclass(frozen=True)
class TextAugmentConfig:
    """What a trial applies to each training batch; every default means "off".

    Attributes:
        token_dropout: Probability of deleting each non-special token.
        random_swap: Probability that a token is swapped with another one.
        random_insertion: Probability of inserting a token after each token.
        insert_copy_prob: Share of insertions that copy a nearby token (the rest
            are random vocabulary ids).
        span_mask: Expected fraction of tokens replaced by the mask token.
        max_span: Longest masked span.
        embedding_mixup_alpha: Beta alpha for mixup on embeddings (0 = off). It
            is applied in the training step with
            :func:`hpo.augment.mixup_embeddings`, not by the batch augmenter,
            because it needs the model's embedding layer.
        special_ids: Token ids never removed, moved or replaced.
        pad_id: Padding id.
        mask_id: Mask token id (required when ``span_mask > 0``).
        vocab_size: Vocabulary size (required for random insertions).
    """

    token_dropout: float = 0.0
    random_swap: float = 0.0
    random_insertion: float = 0.0
    insert_copy_prob: float = 0.5
    span_mask: float = 0.0
    max_span: int = 3
    embedding_mixup_alpha: float = 0.0
    special_ids: tuple[int, ...] = ()
    pad_id: int = 0
    mask_id: int | None = None
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("token_dropout", "random_swap", "random_insertion",
                     "insert_copy_prob", "span_mask"):
            check_probability(name, getattr(self, name))
        if not isinstance(self.max_span, int) or self.max_span < 1:
            raise ValueError(f"max_span must be an int >= 1, got {self.max_span!r}")
        if not (self.embedding_mixup_alpha >= 0.0) or self.embedding_mixup_alpha == float("inf"):
            raise ValueError(f"embedding_mixup_alpha must be a finite number >= 0, "
                             f"got {self.embedding_mixup_alpha!r}")
        # Tuples keep the dataclass hashable even when a list was passed in.
        object.__setattr__(self, "special_ids", tuple(int(i) for i in self.special_ids))
        if self.span_mask > 0 and self.mask_id is None:
            raise ValueError(f"mask_id is required when span_mask > 0, got "
                             f"span_mask={self.span_mask!r} and mask_id=None")
        needs_vocab = self.random_insertion > 0 and self.insert_copy_prob < 1.0
        if needs_vocab and (self.vocab_size is None or self.vocab_size < 1):
            raise ValueError(f"vocab_size must be a positive int when random_insertion > 0, "
                             f"got {self.vocab_size!r}")

    @property
    def enabled(self) -> bool:
        """Whether the batch augmenter changes anything."""
        return any(v > 0 for v in (self.token_dropout, self.random_swap,
                                   self.random_insertion, self.span_mask))

    def with_tokenizer(self, tokenizer: Any) -> TextAugmentConfig:
        """Copy with ``special_ids``, ``pad_id``, ``mask_id``, ``vocab_size`` from a tokenizer.

        Args:
            tokenizer: A ``transformers`` tokenizer (anything with
                ``all_special_ids``, ``pad_token_id``, ``mask_token_id``, ``len``).

        Returns:
            A new, validated config.
        """
        pad_id = tokenizer.pad_token_id
        return dataclasses.replace(
            self,
            special_ids=tuple(tokenizer.all_special_ids),
            pad_id=0 if pad_id is None else int(pad_id),
            mask_id=getattr(tokenizer, "mask_token_id", None),
            vocab_size=len(tokenizer),
        )


def build_text_augmenter(cfg: TextAugmentConfig) -> TextAugmenter:
    """Compose the enabled operations into one batch augmenter.

    Order: dropout, swap, insertion, span masking. Insertion runs after dropout
    so that it can use the padding dropout freed; masking runs last so that the
    inserted and moved tokens can be masked too.

    Args:
        cfg: The trial's settings.

    Returns:
        ``augment(batch, generator) -> batch``; with everything off it returns a
        shallow copy of the batch.
    """
    special = tuple(set(cfg.special_ids) | {cfg.pad_id})

    def augment(batch: Mapping[str, Tensor], generator: torch.Generator) -> Batch:
        out: Batch = dict(batch)
        if cfg.token_dropout > 0:
            out = token_dropout(out, cfg.token_dropout, generator, special_ids=special,
                                pad_id=cfg.pad_id)
        if cfg.random_swap > 0:
            out = random_swap(out, cfg.random_swap, generator, special_ids=special)
        if cfg.random_insertion > 0:
            out = random_insertion(out, cfg.random_insertion, generator, special_ids=special,
                                   vocab_size=cfg.vocab_size, pad_id=cfg.pad_id,
                                   mask_id=cfg.mask_id, copy_prob=cfg.insert_copy_prob)
        if cfg.span_mask > 0:
            out = span_mask(out, cfg.span_mask, generator, special_ids=special,
                            mask_id=cfg.mask_id, max_span=cfg.max_span)
        return out

    return augment
