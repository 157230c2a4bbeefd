"""Rung-only evaluations on a fixed stratified validation subset (``rung_eval_size``)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from hpo.trainables import _common
from hpo.trainables._context import TrialContext, use_context
from hpo.trainables._wrap import RUNG_ONLY_KEY
from tests.trainables._toy import toy_steps


def test_the_subset_keeps_the_label_mix_and_is_the_same_every_time() -> None:
    labels = [0] * 300 + [1] * 100
    idx = _common.stratified_subset(labels, 128)
    assert idx is not None and len(idx) == 128 and idx == sorted(set(idx))
    assert Counter(labels[i] for i in idx) == {0: 96, 1: 32}
    assert _common.stratified_subset(labels, 128) == idx  # seeded: every trial the same
    three = [0, 1, 2] * 10 + [2]  # remainders: exactly ``size`` examples
    assert len(_common.stratified_subset(three, 10) or []) == 10
    assert _common.stratified_subset(labels, None) is None
    assert _common.stratified_subset(labels, 400) is None  # not smaller: the whole split
    for bad in (0, -5, 2.5, "128", True):
        with pytest.raises(ValueError, match=f"rung_eval_size must be an int >= 1 or null, "
                                             f"got {bad!r}"):
            _common.stratified_subset(labels, bad)


def test_only_the_evaluations_before_an_epochs_end_use_the_subset() -> None:
    calls: list[str] = []

    def whole() -> tuple[float, float]:
        calls.append("whole")
        return 0.9, 0.1

    def subset() -> tuple[float, float]:
        calls.append("subset")
        return 0.5, 0.7

    reports: list[dict] = []
    model, steps = toy_steps(30, 3, whole, evaluate_rung=subset)
    with use_context(TrialContext(reporter=reports.append)):
        for epoch in range(2):
            steps.new_epoch(epoch)
            for _ in range(3):
                loss = model(torch.randn(10, 4)).sum()
                steps.step(loss, 10)
    assert calls == ["subset", "subset", "whole"] * 2
    assert [bool(r.get(RUNG_ONLY_KEY)) for r in reports] == [True, True, False] * 2
    assert [r["accuracy"] for r in reports] == [0.5, 0.5, 0.9] * 2
