"""Recent answers of the read routes, shared by every client for up to ``max_age_s``.

A team polls: notebooks, CI jobs and terminals each ask for a search's status every
second or so, and every answer reads the queue and the study's trials. On the machine
that also runs the searches, each of those reads takes CPU from the trials (the server
runs at a normal priority, Ray's workers at nice 15), so N clients cost N reads a
second. Here one read per route, path and query serves every request that arrives
within ``max_age_s`` of it, and concurrent requests for the same stale answer wait for
one read instead of making one each. The server clears everything on its own writes
(submit, cancel), so a client sees its own change at once; changes made elsewhere (a
driver recording progress, Ray ending a job) show up at most ``max_age_s`` later.

No caching library is a dependency and ``functools`` has no expiry; this is a dict, a
clock and a lock per key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

Answer = tuple[int, Any]
_STRIPES = 16


class AnswerCache:
    """Answers by key, each reused for ``max_age_s`` seconds (0 turns reuse off).

    Args:
        max_age_s: how long one answer serves later requests.
        max_entries: at most this many answers are kept; past it the oldest go first.
        clock: monotonic seconds (tests pass a simulated one).
    """

    def __init__(self, max_age_s: float = 1.0, max_entries: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_age_s < 0:
            raise ValueError(f"max_age_s: must be >= 0, got {max_age_s!r}")
        self.max_age_s, self.max_entries, self._clock = max_age_s, max_entries, clock
        self._answers: dict[Hashable, tuple[float, Answer]] = {}
        # Striped: a fixed set of read locks, so arbitrary query strings cannot grow it.
        self._read_locks = tuple(threading.Lock() for _ in range(_STRIPES))
        self._lock = threading.Lock()
        self._generation = 0  # bumped by clear(): a read that began before it is not kept
        self.reads = 0  # answers computed (the rest were reused)

    def _fresh(self, key: Hashable) -> Answer | None:
        found = self._answers.get(key)
        if found is not None and self._clock() - found[0] < self.max_age_s:
            return found[1]
        return None

    def get(self, key: Hashable, compute: Callable[[], Answer]) -> Answer:
        """The answer for ``key``: a fresh enough one, else ``compute()`` (whose
        exceptions pass through and are not kept)."""
        if self.max_age_s == 0:
            self.reads += 1
            return compute()
        with self._lock:
            found = self._fresh(key)
            if found is not None:
                return found
        # One read per key at a time; requests that waited take its answer.
        with self._read_locks[hash(key) % _STRIPES]:
            with self._lock:
                found = self._fresh(key)
                generation = self._generation
            if found is not None:
                return found
            started = self._clock()
            answer = compute()
            with self._lock:
                self.reads += 1
                if generation == self._generation:
                    self._answers.pop(key, None)  # re-inserted last: dicts keep order
                    self._answers[key] = (started, answer)
                    if len(self._answers) > self.max_entries:
                        del self._answers[next(iter(self._answers))]
            return answer

    def clear(self) -> None:
        """Forget every answer (after a write through this server)."""
        with self._lock:
            self._answers.clear()
            self._generation += 1
