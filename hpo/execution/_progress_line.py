"""A live one-line progress display for a running search."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from hpo.execution._ledger import Ledger


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressLine:
    """Redraws ``trials done/running/pruned/failed, best, elapsed, ETA`` once a second.

    On a terminal the line is redrawn in place; otherwise (CI logs) a line is
    printed every ``log_every`` seconds and when the counts change.
    """

    def __init__(self, ledger: Ledger, concurrency: int, time_budget: float | None,
                 stream: TextIO | None = None, log_every: float = 15.0) -> None:
        self.ledger = ledger
        self.concurrency = max(1, concurrency)
        self.time_budget = time_budget
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self.t0 = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="hpo-progress")
        self._last_line = ""
        self._last_print = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._emit(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        c = self.ledger.counts
        ended = c.complete + c.pruned + c.failed
        total = self.ledger.to_start
        elapsed = time.time() - self.t0
        best = "-" if c.best is None else f"{c.best:.4g}"
        eta = "?"
        if ended:
            per_slot = elapsed / ended
            left = max(0, total - ended) * per_slot
            if self.time_budget is not None:
                left = min(left, self.time_budget - elapsed)
            eta = _clock(left)
        return (f"trials {ended}/{total} done ({c.complete} complete, {c.pruned} pruned, "
                f"{c.failed} failed), {c.running} running | best {self.ledger.metric} {best}"
                f" | elapsed {_clock(elapsed)}, left ~{eta}")

    def _emit(self, force: bool = False) -> None:
        text = self.line()
        now = time.time()
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif force or text.split(" | elapsed")[0] != self._last_line.split(" | elapsed")[0] \
                or now - self._last_print >= self.log_every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_print = now
        self._last_line = text

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self._emit()
