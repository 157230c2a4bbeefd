"""One background thread that applies the ledger's storage writes, in order.

Ray Tune's driver loop is single-threaded: every millisecond it spends in a
database commit delays the next trial's start. The ledger therefore decides
everything in the loop and hands the writes (intermediate values, metrics,
end states) to this thread. Writes keep their order; :meth:`flush` waits for
all of them and re-raises the first error, so nothing is dropped silently.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
_STOP = object()


class StoreWriter:
    """Runs submitted write functions on a daemon thread in submission order."""

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hpo-store-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[[], None]) -> None:
        if self._error is not None:
            raise RuntimeError("an earlier write to the study failed") from self._error
        self._queue.put(write)

    def flush(self) -> None:
        """Wait until every submitted write is applied; raise the first one that failed."""
        self._queue.join()
        if self._error is not None:
            raise RuntimeError("a write to the study failed") from self._error

    def close(self) -> None:
        self.flush()
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:
                    item()  # type: ignore[operator]
            except BaseException as exc:  # noqa: BLE001 - kept and re-raised by flush()
                log.error("writing to the study failed: %s", exc)
                self._error = exc
            finally:
                self._queue.task_done()
