"""Retrying a store operation through a storage outage, with backoff.

A PostgreSQL server that restarts, a network that drops for a few seconds, SQLite
that is "database is locked" or "database or disk is full": Optuna surfaces each as
an exception from the one call that hit it, and a search that lets it through dies
with finished results still in memory. Every store operation hpo makes while a
search runs goes through :func:`retry`, which tries again with exponential backoff
(capped) until a window of ``$HPO_STORE_RETRY_S`` seconds (default 120) has passed
since the first failure, and only then raises :class:`StoreUnavailable`. Opening a
store or a study waits at most 15 s of that (:func:`open_window`).

Only errors that can go away by themselves are retried (:func:`is_transient`); a
programming error or a constraint violation is raised at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

ENV_WINDOW = "HPO_STORE_RETRY_S"
#: How long (seconds) a failing store is retried before the search stops.
DEFAULT_WINDOW_S = 120.0
_FIRST_PAUSE_S = 0.2
_MAX_PAUSE_S = 5.0

# Words of the DBAPI messages that mean "try again later", for errors whose class
# alone does not say (sqlite3 raises OperationalError for a syntax error too).
_TRANSIENT_WORDS = (
    "database is locked", "database table is locked", "disk is full", "disk i/o error",
    "unable to open database", "connection", "server closed", "terminating",
    "could not connect", "timeout", "timed out", "shutting down", "starting up",
    "recovery mode", "no space left", "deadlock", "could not serialize",
    "ssl syscall", "broken pipe", "eof detected",
)


_last_trouble: float | None = None  # time.monotonic() of this process's latest store error


def seconds_since_trouble() -> float | None:
    """Seconds since this process last saw a transient store error (None: never).

    While the store was down, other drivers could not write their heartbeats either, so
    a driver that just had trouble must not take their silence for death
    (:func:`hpo.execution._liveness.repair_stale` asks this).
    """
    return None if _last_trouble is None else time.monotonic() - _last_trouble


class StoreUnavailable(RuntimeError):
    """The store failed for longer than the retry window; the search stops."""


#: Opening a store or a study is retried for at most this long: nothing is at stake yet,
#: and a mistyped host should not keep ``hpo export`` waiting for two minutes.
OPEN_WINDOW_S = 15.0


def open_window() -> float:
    """The retry window for opening a store or a study: the shorter of the two."""
    return min(retry_window(), OPEN_WINDOW_S)


def retry_window() -> float:
    """The retry window in seconds: ``$HPO_STORE_RETRY_S``, else 120."""
    raw = os.environ.get(ENV_WINDOW)
    if not raw:
        return DEFAULT_WINDOW_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"${ENV_WINDOW}: not a number of seconds: {raw!r}") from None
    if value < 0:
        raise ValueError(f"${ENV_WINDOW}: must be >= 0, got {raw!r}")
    return value


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a store failure that may go away (outage, lock, full disk)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_one(exc: BaseException) -> bool:
    import sqlite3

    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if module.startswith("sqlalchemy"):
        if getattr(exc, "connection_invalidated", False):
            return True
        if name in ("OperationalError", "InterfaceError", "DisconnectionError",
                    "TimeoutError"):
            return True
    if module.startswith(("psycopg", "psycopg2")) and name in (
            "OperationalError", "InterfaceError", "AdminShutdown", "CannotConnectNow",
            "SerializationFailure", "DeadlockDetected"):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(word in text for word in _TRANSIENT_WORDS)
    # Optuna wraps any SQLAlchemy error in StorageInternalError and chains the
    # original, which the caller's walk down ``__cause__`` looks at.
    return False


def retry(operation: Callable[[], T], what: str, *, window: float | None = None,
          sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> T:
    """``operation()``, tried again on transient store errors for up to ``window`` s.

    Args:
        operation: the store call; it must be safe to repeat (every write hpo makes
            is: attributes are set, not appended, and ``tell`` skips a finished trial).
        what: the operation in words, for the log and the error.
        window: seconds of failures after which :class:`StoreUnavailable` is raised
            (default :func:`retry_window`).
        sleep, clock: injected so tests run on simulated time.

    Raises:
        StoreUnavailable: still failing when the window closed (the last error chained).
    """
    limit = retry_window() if window is None else window
    first: float | None = None
    pause = _FIRST_PAUSE_S
    attempt = 0
    while True:
        try:
            result = operation()
        except Exception as exc:  # only transient ones are retried, the rest re-raised
            if not is_transient(exc):
                raise
            global _last_trouble
            _last_trouble = time.monotonic()
            now = clock()
            first = now if first is None else first
            attempt += 1
            if now - first >= limit:
                raise StoreUnavailable(
                    f"the store failed for {now - first:.0f} s ({attempt} attempts) while "
                    f"{what}; last error: {_first_line(exc)}"
                ) from exc
            if attempt == 1:
                log.warning("store error while %s (retrying up to %g s): %s", what, limit,
                            _first_line(exc))
            sleep(min(pause, max(0.0, limit - (now - first))))
            pause = min(pause * 2, _MAX_PAUSE_S)
            continue
        if attempt:
            log.warning("store back after %d failed attempts while %s", attempt, what)
        return result


def _first_line(exc: BaseException) -> str:
    """The first line of the innermost cause: Optuna's wrapper says only "an exception is
    raised during the commit", the driver's error under it says "connection refused"."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
