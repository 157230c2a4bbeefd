"""SIGINT and SIGTERM end a search the way its time budget does, with every trial closed."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any


class SearchInterrupted(Exception):
    """SIGINT or SIGTERM ended the search; every trial it ran is closed in the store."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"the search was interrupted by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


# The StopSignals of the searches running in this process (one, in practice).
_ACTIVE: list[StopSignals] = []


def request_stop(reason: str) -> bool:
    """End the search running in this process as a first SIGINT would, but normally.

    Trials still running are closed PRUNED with ``by: interrupted`` and the reason
    "the search was interrupted by <reason>"; :func:`run_search` then returns instead
    of raising. Callable from any thread (``hpo serve``'s job driver cancels this way).
    Returns False while no search's ledger exists yet here; ask again later.
    """
    for signals in _ACTIVE:
        if signals.ledger is not None and signals.received is None:
            signals.ledger.interrupted = reason
            return True
    return False


class StopSignals:
    """SIGINT and SIGTERM end the search the way its time budget does.

    While the search runs, the first signal marks the ledger interrupted: no new
    trial starts, Ray Tune stops the running ones, every trial is closed in the store
    and :func:`run_search` then raises :class:`SearchInterrupted`. Before the ledger
    exists, or on a second signal, the signal raises at once (the ``finally`` blocks
    still close what is open). Ray Tune's own SIGINT handler, which ends with advice
    to call ``Tuner.restore`` on a folder hpo deletes, is switched off. Outside the
    main thread signals cannot be caught and nothing changes.
    """

    def __init__(self, grace_s: float = 15.0) -> None:
        self.ledger: Any = None
        self.received: int | None = None
        self.grace_s = grace_s
        self._done = threading.Event()
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        self.install()
        _ACTIVE.append(self)
        return self

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(signum, self._handle)
            self._saved.setdefault(signum, previous)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        first = self.received is None
        self.received = self.received or signum
        if first and self.ledger is not None:
            self.ledger.interrupted = signal.Signals(signum).name
            threading.Thread(target=self._last_resort, args=(signum,), daemon=True,
                             name="hpo-stop-watchdog").start()
            return
        raise SearchInterrupted(signum)

    def _last_resort(self, signum: int) -> None:
        """Close the trials and exit if Ray cannot stop them within the grace period.

        A SIGTERM sent to the whole process group (a container stop, ``timeout``, a job
        scheduler) reaches the Ray processes this driver started as well; they exit at
        once and Ray Tune then waits forever for trials it can no longer stop. The
        store is what matters: every trial is closed, then the process exits with the
        signal's code.
        """
        if self._done.wait(self.grace_s):
            return
        print(f"hpo: Ray did not stop the trials within {self.grace_s:g} s of "
              f"{signal.Signals(signum).name}; closing them in the store and exiting",
              file=sys.stderr, flush=True)
        try:
            self.ledger.close_all("interrupted", "the search was interrupted by "
                                  f"{signal.Signals(signum).name}")
        finally:
            os._exit(128 + signum)
