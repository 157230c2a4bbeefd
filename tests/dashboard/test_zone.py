"""The page's time zone: offsets per instant (daylight saving included), labels, refusals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hpo.dashboard._zone import UTC, zone


def _epoch(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()


def test_no_name_or_utc_gives_utc_unshifted():
    assert zone(None) is UTC and zone("") is UTC and zone("Etc/UTC") is UTC
    t = np.array([_epoch(2026, 12, 2, 18, 0, 0)])
    assert (UTC.shift(t) == t).all()
    assert UTC.label() == "UTC" and UTC.clock(t[0]) == "18:00:00 UTC"


def test_shift_follows_daylight_saving_inside_the_span():
    berlin = zone("Europe/Berlin")  # CET +1 until 2026-03-29 01:00 UTC, then CEST +2
    before, after = _epoch(2026, 3, 29, 0, 30, 0), _epoch(2026, 3, 29, 1, 30, 0)
    shifted = berlin.shift([before, after, float("nan")])
    assert shifted[0] - before == 3600 and shifted[1] - after == 7200
    assert np.isnan(shifted[2])
    assert berlin.label(before) == "Europe/Berlin, UTC+01:00"
    assert berlin.label(after) == "Europe/Berlin, UTC+02:00"
    assert berlin.clock(after) == "03:30:00 Europe/Berlin"


def test_negative_and_half_hour_offsets_are_labelled():
    assert zone("America/St_Johns").label(_epoch(2026, 1, 15, 12, 0, 0)) \
        == "America/St_Johns, UTC-03:30"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "Europe/"])
def test_unknown_zone_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="unknown time zone tz="):
        zone(bad)
