"""One background thread that applies the ledger's storage writes, in order.

Ray Tune's driver loop is single-threaded: every millisecond it spends in a
database commit delays the next trial's start. The ledger therefore decides
everything in the loop and hands the writes (intermediate values, metrics,
end states) to this thread. Writes keep their order.

Each write is retried through a store outage (see :mod:`hpo.storage._retry`). If the
store stays down past the retry window, the writer gives up: every end state it
still holds (the one that failed, those queued behind it, and any submitted later)
goes to the study's recovery file (see :mod:`hpo.storage._recovery`) for the next
run to replay, and :meth:`flush` and :meth:`submit` raise
:class:`~hpo.storage.StoreUnavailable`, so the search stops loudly and no finished
result is dropped silently. Writes without a recovery record (intermediate values,
heartbeats) are only counted in the log once the store is gone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo.storage._recovery import save
from hpo.storage._retry import StoreUnavailable, retry

log = logging.getLogger(__name__)
_STOP = object()

Write = Callable[[], None]


class StoreWriter:
    """Runs submitted write functions on a daemon thread in submission order.

    Args:
        recovery_path: where end states go when the store stays down (None: nowhere,
            the writer only raises; for unit tests of one ledger without a store URL).
        window: seconds a failing write is retried (default ``$HPO_STORE_RETRY_S``).
    """

    def __init__(self, recovery_path: Path | None = None, window: float | None = None) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._error: BaseException | None = None
        self._recovery_path = recovery_path
        self._window = window
        self._dropped = 0
        self.recovered = 0
        self._thread = threading.Thread(target=self._run, name="hpo-store-writer", daemon=True)
        self._thread.start()

    @property
    def gave_up(self) -> bool:
        return self._error is not None

    def submit(self, write: Write, recovery: dict[str, Any] | None = None) -> None:
        """Queue ``write``; ``recovery`` is the end state it stores, kept if the store is gone.

        Raises:
            StoreUnavailable: the writer has given up on the store (an end state was
                saved to the recovery file first).
        """
        if self._error is not None:
            if recovery is not None:
                self._recover([recovery])
                return  # kept: the caller may go on closing its other trials
            self._dropped += 1
            self._raise()
        self._queue.put((write, recovery))

    def flush(self) -> None:
        """Wait until every submitted write is applied; raise if the store was lost."""
        self._queue.join()
        if self._error is not None:
            self._raise()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)

    def _raise(self) -> None:
        if not isinstance(self._error, StoreUnavailable):
            raise RuntimeError("a write to the study failed") from self._error
        where = (f"; {self.recovered} finished result(s) saved to {self._recovery_path}, "
                 "replayed by the next run on this study") if self.recovered else ""
        if self._dropped:
            where += f" ({self._dropped} later intermediate write(s) not stored)"
        raise StoreUnavailable(f"{self._error}{where}") from self._error

    def _recover(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if self._recovery_path is None:
            for record in records:
                log.error("the store is unreachable; result not stored: %r", record)
            return
        try:
            save(self._recovery_path, records)
        except OSError:
            return  # save() logged every record in full
        self.recovered += len(records)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            recovery: dict[str, Any] | None = None
            try:
                if item is _STOP:
                    return
                write: Write
                write, recovery = item  # type: ignore[misc]
                if self._error is not None:
                    self._recover([] if recovery is None else [recovery])
                    continue
                retry(write, "writing to the study", window=self._window)
            except StoreUnavailable as exc:
                log.error("%s; the search stops", exc)
                self._error = exc
                self._recover([] if recovery is None else [recovery])
            except BaseException as exc:  # noqa: BLE001 - kept and re-raised by flush()
                log.error("writing to the study failed: %s", exc)
                self._error = exc
                self._recover([] if recovery is None else [recovery])
            finally:
                self._queue.task_done()


def writer_for(storage: Any, study_name: str) -> StoreWriter:
    """A writer whose recovery file is the study's on ``storage`` (an Optuna RDB storage;
    None or a storage without a URL: no recovery file)."""
    from hpo.storage._recovery import recovery_path

    url = getattr(storage, "url", None)
    return StoreWriter(None if not isinstance(url, str) else recovery_path(url, study_name))
