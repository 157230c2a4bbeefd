"""Token-level text augmentation on tokenised batches.

Every function takes a batch dictionary as produced by a tokenizer with
``padding=True`` (``input_ids`` and ``attention_mask`` as ``LongTensor [B, L]``,
right padding; optional ``token_type_ids`` and ``labels``) and returns a new one.
The invariants the rest of the pipeline relies on are kept:

* shapes never change; padding stays at the end and ``attention_mask`` is 1
  exactly on the real tokens;
* protected tokens ([CLS], [SEP], [PAD], any id in ``special_ids``) are never
  removed, moved, replaced or chosen as an insertion;
* every other ``[B, L]`` tensor except ``labels`` (e.g. ``token_type_ids``)
  follows its tokens; ``labels`` is returned untouched (sequence labels only).

A probability of 0 returns the input tensors themselves, and all randomness comes
from the ``torch.Generator`` passed in, so a trial's seed fixes its augmentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

Batch = dict[str, Tensor]


def check_probability(name: str, value: float) -> None:
    """Raise a ValueError quoting ``value`` unless it lies in [0, 1]."""
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    # Draw on the generator's own device (usually CPU) so one generator can serve
    # batches that live anywhere, then move the numbers next to the data.
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(0, high, (1,), generator=generator, device=generator.device))


def _validate(batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if ids.dim() != 2 or ids.shape != mask.shape:
        raise ValueError(f"input_ids and attention_mask must both be [B, L], got "
                         f"{tuple(ids.shape)} and {tuple(mask.shape)}")
    if ids.shape[1] > 1 and bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError("attention_mask must be right-padded (ones, then zeros)")
    return ids, mask


def _editable(ids: Tensor, mask: Tensor, special_ids: Iterable[int]) -> Tensor:
    """True on real tokens that an augmentation may touch."""
    special = torch.tensor(sorted(set(special_ids)), dtype=ids.dtype, device=ids.device)
    return mask.bool() & ~torch.isin(ids, special)


def _segments(ids: Tensor, mask: Tensor, editable: Tensor) -> Tensor:
    # Protected tokens split a row into segments ([CLS] a [SEP] b [SEP]); swaps and
    # copies stay inside one segment so that sentence pairs are not mixed up.
    return torch.cumsum((mask.bool() & ~editable).long(), dim=1)


def _regather(batch: Mapping[str, Tensor], src: Tensor, lengths: Tensor, pad_id: int) -> Batch:
    """Rebuild every per-token tensor from source positions ``src`` [B, L].

    Positions ``>= lengths`` become padding (``pad_id`` for ids, 0 elsewhere).
    """
    ids = batch["input_ids"]
    positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
    real = positions < lengths.unsqueeze(1)
    out: Batch = dict(batch)
    for key, value in batch.items():
        if key == "labels" or not isinstance(value, Tensor) or value.shape != ids.shape:
            continue
        fill = pad_id if key == "input_ids" else 0
        out[key] = torch.where(real, value.gather(1, src), torch.full_like(value, fill))
    out["attention_mask"] = real.to(batch["attention_mask"].dtype)
    return out


def token_dropout(batch: Mapping[str, Tensor], p: float, generator: torch.Generator, *,
                  special_ids: Iterable[int], pad_id: int = 0) -> Batch:
    """Delete each non-special token with probability ``p`` and close the gaps.

    Args:
        batch: Tokenised batch (see module docstring).
        p: Deletion probability per token.
        generator: Source of randomness.
        special_ids: Token ids that are never deleted.
        pad_id: Id written into the freed positions at the end.

    Returns:
        A new batch; rows get shorter, padding grows at the end.
    """
    check_probability("token_dropout", p)
    ids, mask = _validate(batch)
    if p == 0.0:
        return dict(batch)
    drop = _editable(ids, mask, special_ids) & (_uniform(tuple(ids.shape), generator,
                                                         ids.device) < p)
    keep = mask.bool() & ~drop
    # A stable sort on "not kept" moves kept positions to the front in order.
    src = torch.sort((~keep).long(), dim=1, stable=True).indices
    return _regather(batch, src, keep.sum(dim=1), pad_id)


def random_swap(batch: Mapping[str, Tensor], p: float, generator: torch.Generator, *,
                special_ids: Iterable[int]) -> Batch:
    """Swap each non-special token, with probability ``p``, with another one of its segment.

    Args:
        batch: Tokenised batch.
        p: Probability that a token starts a swap.
        generator: Source of randomness.
        special_ids: Token ids that never move.

    Returns:
        A new batch with the same lengths.
    """
    check_probability("random_swap", p)
    ids, mask = _validate(batch)
    if p == 0.0:
        return dict(batch)
    editable = _editable(ids, mask, special_ids)
    segments = _segments(ids, mask, editable).tolist()
    starts = (editable & (_uniform(tuple(ids.shape), generator, ids.device) < p)).tolist()
    src = torch.arange(ids.shape[1]).repeat(ids.shape[0], 1)
    for row, (row_edit, row_seg, row_start) in enumerate(
            zip(editable.tolist(), segments, starts, strict=True)):
        perm = src[row].tolist()
        by_segment: dict[int, list[int]] = {}
        for j, ok in enumerate(row_edit):
            if ok:
                by_segment.setdefault(row_seg[j], []).append(j)
        for i, chosen in enumerate(row_start):
            members = by_segment.get(row_seg[i], []) if chosen else []
            if len(members) < 2:
                continue
            # Draw among the other members: skip over i's own slot.
            k = _randint(len(members) - 1, generator)
            j = members[k + (k >= members.index(i))]
            perm[i], perm[j] = perm[j], perm[i]
        src[row] = torch.tensor(perm)
    return _regather(batch, src.to(ids.device), mask.sum(dim=1), 0)


def random_insertion(batch: Mapping[str, Tensor], p: float, generator: torch.Generator, *,
                     special_ids: Iterable[int], vocab_size: int | None, pad_id: int = 0,
                     mask_id: int | None = None, copy_prob: float = 0.5) -> Batch:
    """After each non-special token, with probability ``p``, insert a new token.

    The new token is, with probability ``copy_prob``, a copy of a token at most
    two positions away in the same segment, otherwise a random vocabulary id that
    is neither special nor the mask id. Rows only grow into their padding, so a
    full row gets no insertions and nothing real is ever truncated.

    Args:
        batch: Tokenised batch.
        p: Insertion probability per token.
        generator: Source of randomness.
        special_ids: Protected ids (never inserted).
        vocab_size: Size of the vocabulary; needed unless ``copy_prob == 1``.
        pad_id: Padding id.
        mask_id: The mask token id, excluded from random insertions.
        copy_prob: Share of insertions that copy a nearby token.

    Returns:
        A new batch; rows get longer, up to the padded length.
    """
    check_probability("random_insertion", p)
    check_probability("insert_copy_prob", copy_prob)
    ids, mask = _validate(batch)
    if p == 0.0:
        return dict(batch)
    if copy_prob < 1.0 and (vocab_size is None or vocab_size < 1):
        raise ValueError(f"vocab_size must be a positive int for random insertions, "
                         f"got {vocab_size!r}")
    forbidden = set(special_ids) | {pad_id} | ({mask_id} if mask_id is not None else set())
    editable = _editable(ids, mask, special_ids)
    segments = _segments(ids, mask, editable).tolist()
    chosen_all = (editable & (_uniform(tuple(ids.shape), generator, ids.device) < p)).tolist()
    width = ids.shape[1]
    src = torch.zeros_like(ids, device="cpu")
    values = ids.detach().cpu().clone()
    lengths = mask.sum(dim=1).cpu()
    row_ids_all = values.tolist()
    for row, (row_ids, row_edit, row_seg, chosen) in enumerate(
            zip(row_ids_all, editable.tolist(), segments, chosen_all, strict=True)):
        n = int(lengths[row])
        picks = [i for i, c in enumerate(chosen) if c]
        if len(picks) > width - n:  # only the free padding can take new tokens
            order = torch.randperm(len(picks), generator=generator,
                                   device=generator.device)[: width - n]
            picks = sorted(picks[k] for k in order.tolist())
        pick_set = set(picks)
        row_src: list[int] = []
        row_val: list[int] = []
        for i in range(n):
            row_src.append(i)
            row_val.append(row_ids[i])
            if i not in pick_set:
                continue
            row_src.append(i)  # inserted token inherits e.g. the token type of i
            if float(torch.rand(1, generator=generator, device=generator.device)) < copy_prob:
                near = [j for j in range(max(i - 2, 0), min(i + 3, n))
                        if row_edit[j] and row_seg[j] == row_seg[i]]
                row_val.append(row_ids[near[_randint(len(near), generator)]])
            else:
                row_val.append(_regular_token(vocab_size or 0, forbidden, generator))
        src[row, : len(row_src)] = torch.tensor(row_src)
        values[row, : len(row_val)] = torch.tensor(row_val)
        lengths[row] = len(row_src)
    out = _regather(batch, src.to(ids.device), lengths.to(ids.device), pad_id)
    real = out["attention_mask"].bool()
    out["input_ids"] = torch.where(real, values.to(ids.device), out["input_ids"])
    return out


def _regular_token(vocab_size: int, forbidden: set[int], generator: torch.Generator) -> int:
    # Rejection sampling: special ids are a handful out of tens of thousands.
    for _ in range(1000):
        token = _randint(vocab_size, generator)
        if token not in forbidden:
            return token
    raise ValueError(f"could not draw a non-special token from vocab_size={vocab_size}")


def span_mask(batch: Mapping[str, Tensor], p: float, generator: torch.Generator, *,
              special_ids: Iterable[int], mask_id: int | None, max_span: int = 3) -> Batch:
    """Replace spans of non-special tokens with the mask token.

    About a fraction ``p`` of each row's non-special tokens is masked (the count
    is binomial), in spans of 1 to ``max_span`` tokens that never cross a
    protected token.

    Args:
        batch: Tokenised batch.
        p: Expected fraction of non-special tokens masked.
        generator: Source of randomness.
        special_ids: Protected ids (never masked).
        mask_id: The tokenizer's mask token id.
        max_span: Longest span length.

    Returns:
        A new batch with the same lengths.
    """
    check_probability("span_mask", p)
    if max_span < 1:
        raise ValueError(f"max_span must be >= 1, got {max_span!r}")
    ids, mask = _validate(batch)
    if p == 0.0:
        return dict(batch)
    if mask_id is None:
        raise ValueError("mask_id must be given for span masking, got None")
    editable = _editable(ids, mask, special_ids)
    budgets = (editable & (_uniform(tuple(ids.shape), generator, ids.device) < p)).sum(1)
    new_ids = ids.detach().cpu().clone()
    for row, row_edit in enumerate(editable.tolist()):
        candidates = [i for i, ok in enumerate(row_edit) if ok]
        budget, masked = int(budgets[row]), set[int]()
        while len(masked) < budget:
            pos = candidates[_randint(len(candidates), generator)]
            length = 1 + _randint(max_span, generator)
            while length > 0 and pos < len(row_edit) and row_edit[pos] and len(masked) < budget:
                masked.add(pos)
                pos, length = pos + 1, length - 1
        if masked:
            new_ids[row, sorted(masked)] = mask_id
    out = dict(batch)
    out["input_ids"] = new_ids.to(ids.device)
    return out
