"""The time zone a page shows clock times in: the browser's, named on every axis and note.

The store keeps UTC epoch seconds. Plotly's date axes have no time zone of their own (they
draw a number as UTC), so the dashboard shifts each timestamp by its zone's UTC offset at
that instant before drawing, and says which zone it used. The page sends the browser's
IANA zone name (``Intl.DateTimeFormat().resolvedOptions().timeZone``); the static report
and any request without one get UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

UTC_NAME = "UTC"


@dataclass(frozen=True)
class Zone:
    """A named time zone: clock texts and date-axis coordinates in it."""

    name: str
    tz: dt.tzinfo = field(compare=False, repr=False)

    def offset_s(self, t: float) -> float:
        """Seconds the zone's clocks are ahead of UTC at epoch second ``t``."""
        off = dt.datetime.fromtimestamp(t, self.tz).utcoffset()
        return off.total_seconds() if off else 0.0

    def shift(self, seconds: Iterable[float] | np.ndarray) -> np.ndarray:
        """Epoch seconds moved so that a UTC date axis reads the zone's wall clock."""
        t = np.asarray(seconds, dtype=float)
        if self.name == UTC_NAME or t.size == 0:
            return t
        finite = t[np.isfinite(t)]
        if finite.size == 0:
            return t
        lo, hi = self.offset_s(float(finite.min())), self.offset_s(float(finite.max()))
        if lo == hi:  # one offset over the whole span (no daylight-saving change inside it)
            return t + lo
        return np.asarray([x + self.offset_s(x) if np.isfinite(x) else x for x in t.tolist()])

    def label(self, at: float | None = None) -> str:
        """The zone as an axis names it: ``UTC`` or ``Asia/Kolkata, UTC+05:30``."""
        if self.name == UTC_NAME:
            return UTC_NAME
        off = self.offset_s(dt.datetime.now(dt.timezone.utc).timestamp() if at is None else at)
        sign = "+" if off >= 0 else "-"
        minutes = int(abs(off)) // 60
        return f"{self.name}, UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def clock(self, t: float) -> str:
        """A 24-hour clock time in the zone, labelled: ``14:03:05 Asia/Kolkata``."""
        return dt.datetime.fromtimestamp(t, self.tz).strftime("%H:%M:%S ") + self.name


UTC = Zone(UTC_NAME, dt.timezone.utc)


@lru_cache(maxsize=64)
def zone(name: str | None) -> Zone:
    """The zone of an IANA name (``Europe/Berlin``); None or empty gives UTC.

    Raises:
        ValueError: the name is no time zone this machine knows (the message quotes it).
    """
    if not name or name in (UTC_NAME, "Etc/UTC"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return Zone(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone tz={name!r}: give an IANA name such as "
                         "'Europe/Berlin' or 'UTC'") from exc
