"""How the text trainable cuts batches: random, grouped by length, and in length order to score."""

from __future__ import annotations

import math
import random

import torch

from hpo.trainables._context import TrialContext, use_context
from hpo.trainables.text import GROUP_BATCHES, _batches, _PaddedSplit
from tests.trainables._toy import toy_steps


def _split(n: int = 203, seed: int = 0) -> tuple[_PaddedSplit, list[list[int]]]:
    rng = random.Random(seed)
    ids = [[rng.randrange(5, 90) for _ in range(rng.choice([3, 8, 20, 60, 120]))]
           for _ in range(n)]
    labels = [i % 3 for i in range(n)]
    return _PaddedSplit(ids, labels, pad=0, device="cpu"), ids


def _rows(batches: list[tuple[torch.Tensor, ...]]) -> list[tuple[int, ...]]:
    # Each example back from its padded row (its tokens are all >= 5, padding is 0).
    return [tuple(int(t) for t in row[mask.bool()]) for ids, mask, _ in batches
            for row, mask in zip(ids, mask)]


def test_grouped_batches_hold_every_example_once_in_the_random_batch_sizes() -> None:
    split, ids = _split()
    size = 16
    grouped = list(split.batches(size, torch.Generator().manual_seed(1), by_length=True))
    plain = list(split.batches(size, torch.Generator().manual_seed(1)))
    assert [len(b[2]) for b in grouped] == [len(b[2]) for b in plain]  # short one last
    assert sorted(_rows(grouped)) == sorted(tuple(seq) for seq in ids)
    for input_ids, mask, _ in grouped:  # cut to the batch's longest example
        assert input_ids.shape == mask.shape and int(mask.sum(1).max()) == input_ids.shape[1]
    again = list(split.batches(size, torch.Generator().manual_seed(1), by_length=True))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(grouped, again))  # seeded
    other = list(split.batches(size, torch.Generator().manual_seed(2), by_length=True))
    assert _rows(other) != _rows(grouped)  # a new order every seed (and so every epoch)


def test_grouping_by_length_pads_fewer_tokens_and_keeps_batches_mixed() -> None:
    split, _ = _split(n=800)
    size = 16
    grouped = list(split.batches(size, torch.Generator().manual_seed(0), by_length=True))
    plain = list(split.batches(size, torch.Generator().manual_seed(0)))
    padded = {name: sum(b[0].numel() for b in batches)
              for name, batches in (("grouped", grouped), ("plain", plain))}
    assert padded["grouped"] < padded["plain"] / 2  # five lengths from 3 to 120 tokens
    # Sorted within 8 batches' worth, not the whole split: a whole-split sort would put the
    # 120-token examples in batches of their own but for at most one.
    assert GROUP_BATCHES * size < 800
    widest = [b[1].sum(1) for b in grouped if b[0].shape[1] == 120]
    assert sum(int(lengths.min()) < 120 for lengths in widest) > 1


def test_scoring_batches_come_in_length_order_and_cover_the_split() -> None:
    _, ids = _split(n=300)
    labels = [i % 3 for i in range(300)]
    batches = list(_batches(ids, labels, 128, 0, None, shuffle=False))
    widths = [b[0].shape[1] for b in batches]
    assert widths == sorted(widths)
    assert sorted(_rows(batches)) == sorted(tuple(seq) for seq in ids)
    by_seq = {tuple(seq): label for seq, label in zip(ids, labels)}
    assert all(by_seq[tuple(int(t) for t in row[m.bool()])] == int(lab)
               for b in batches for row, m, lab in zip(b[0], b[1], b[2]))


def test_a_batch_past_two_evaluation_marks_reports_a_loss_both_times() -> None:
    reports: list[dict] = []
    model, steps = toy_steps(48, 2, lambda: (0.5, 0.5))
    with use_context(TrialContext(reporter=reports.append)):
        steps.new_epoch(0)
        steps.step(model(torch.randn(16, 4)).sum(), 16)
        steps.step(model(torch.randn(32, 4)).sum(), 32)  # past the marks at 24 and 48
    assert len(reports) == 2
    assert all(math.isfinite(r["train_loss"]) for r in reports)
    assert reports[0]["train_loss"] == reports[1]["train_loss"]
