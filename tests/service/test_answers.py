"""The read routes' answer cache: reuse within its age, one read for concurrent askers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from hpo.service._answers import AnswerCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(answer: Any = "a") -> tuple[list[int], Any]:
    calls: list[int] = []

    def compute() -> tuple[int, Any]:
        calls.append(1)
        return 200, (answer, len(calls))
    return calls, compute


def test_an_answer_serves_until_it_is_max_age_old() -> None:
    clock = Clock()
    cache = AnswerCache(1.0, clock=clock)
    calls, compute = counting()
    assert cache.get("k", compute) == (200, ("a", 1))
    clock.now += 0.99
    assert cache.get("k", compute) == (200, ("a", 1))
    clock.now += 0.02  # 1.01 s after the read: read again
    assert cache.get("k", compute) == (200, ("a", 2))
    assert len(calls) == 2 and cache.reads == 2


def test_keys_are_separate_and_clear_forgets_everything() -> None:
    clock = Clock()
    cache = AnswerCache(5.0, clock=clock)
    calls, compute = counting()
    cache.get("a", compute)
    cache.get("b", compute)
    assert len(calls) == 2
    cache.clear()
    assert cache.get("a", compute) == (200, ("a", 3))


def test_errors_pass_through_and_are_not_kept() -> None:
    cache = AnswerCache(5.0, clock=Clock())
    attempts: list[int] = []

    def failing() -> tuple[int, Any]:
        attempts.append(1)
        raise LookupError("no such search")

    for _ in range(2):
        with pytest.raises(LookupError):
            cache.get("k", failing)
    assert len(attempts) == 2


def test_zero_max_age_reads_every_time() -> None:
    cache = AnswerCache(0.0)
    calls, compute = counting()
    for _ in range(3):
        cache.get("k", compute)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="max_age_s"):
        AnswerCache(-1.0)


def test_oldest_answers_go_first_past_max_entries() -> None:
    cache = AnswerCache(60.0, max_entries=2, clock=Clock())
    calls, compute = counting()
    for key in ("a", "b", "c"):
        cache.get(key, compute)
    cache.get("c", compute)
    cache.get("b", compute)
    assert len(calls) == 3  # b and c kept
    cache.get("a", compute)
    assert len(calls) == 4  # a was dropped


def test_concurrent_askers_of_a_stale_answer_share_one_read() -> None:
    cache = AnswerCache(60.0)
    calls: list[int] = []
    gate = threading.Event()

    def slow() -> tuple[int, Any]:
        calls.append(1)
        gate.wait(5)
        return 200, "status"

    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("k", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # all eight are waiting on the first one's read
    gate.set()
    for t in threads:
        t.join(5)
    assert got == [(200, "status")] * 8
    assert len(calls) == 1


def test_a_read_that_began_before_clear_is_not_kept() -> None:
    cache = AnswerCache(60.0, clock=Clock())
    calls: list[int] = []

    def read_then_write() -> tuple[int, Any]:
        calls.append(1)
        if len(calls) == 1:
            cache.clear()  # a cancel lands while the first read is under way
        return 200, len(calls)

    assert cache.get("k", read_then_write) == (200, 1)
    assert cache.get("k", read_then_write) == (200, 2)
