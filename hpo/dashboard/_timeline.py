"""When trials ran: per-worker timeline, concurrency, and compute consumed over time."""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass

from hpo.dashboard._zone import UTC, Zone
from hpo.results import StudySnapshot, TrialRecord, stop_note
from hpo.results._state import silent_note
from hpo.results._summary import end_time
from hpo.storage import attrs

# Ray starts a fresh process per trial, so ``host:pid`` rows would number the
# trials; beyond this many workers, trials are packed into lanes per host.
MAX_WORKER_ROWS = 40


@dataclass(frozen=True)
class Bar:
    """One trial on the timeline."""

    number: int
    lane: str
    start: float
    end: float
    state: str
    note: str


@dataclass(frozen=True)
class Timeline:
    """Trials per worker lane plus the number of trials running at each change."""

    lanes: tuple[str, ...]
    bars: tuple[Bar, ...]
    packed: bool  # lanes are packed per host rather than one per worker
    concurrency_t: tuple[float, ...]
    concurrency_n: tuple[int, ...]


def _pack(items: list[tuple[float, float, int]]) -> list[int]:
    """Greedy interval colouring: lane index per (start, end, i), fewest lanes."""
    lanes_end: list[float] = []
    out = [0] * len(items)
    for start, end, i in sorted(items):
        for k, lane_end in enumerate(lanes_end):
            if lane_end <= start:
                lanes_end[k] = end
                out[i] = k
                break
        else:
            lanes_end.append(end)
            out[i] = len(lanes_end) - 1
    return out


def timeline(snap: StudySnapshot, now: float | None = None, zone: Zone = UTC) -> Timeline:
    """Trials per worker (or packed lanes per host when workers are many); clock times in
    notes are in ``zone``."""
    now = time.time() if now is None else now
    # An orphan's bar ends at its driver's last heartbeat, when it was last known to run.
    runs = [(r, r.start, end_time(r, now) or now) for r in snap.trials if r.start is not None]
    recs = [r for r, _, _ in runs]
    starts = [s for _, s, _ in runs]  # the start of recs[i], known to be there
    ends = [e for _, _, e in runs]
    workers = [str(r.user_attrs.get(attrs.WORKER) or "unknown") for r in recs]
    packed = len(set(workers)) > MAX_WORKER_ROWS
    if packed:
        hosts = [w.rsplit(":", 1)[0] for w in workers]
        labels = [""] * len(recs)
        for host in sorted(set(hosts)):
            idx = [i for i, h in enumerate(hosts) if h == host]
            lane = _pack([(starts[i], ends[i], j) for j, i in enumerate(idx)])
            for j, i in enumerate(idx):
                labels[i] = f"{host} #{lane[j] + 1}"
    else:
        labels = workers
    bars = tuple(Bar(r.number, labels[i], starts[i], ends[i], r.state,
                     _bar_note(r, ends[i], zone) or silent_note(r, now))
                 for i, r in enumerate(recs))

    def lane_key(lane: str) -> tuple[str, int]:
        head, _, tail = lane.rpartition(" #" if packed else ":")
        return (head, int(tail)) if tail.isdigit() else (lane, 0)

    events = sorted([(b.start, 1) for b in bars] + [(b.end, -1) for b in bars])
    ts: list[float] = []
    ns: list[int] = []
    n = 0
    for t, d in events:
        n += d
        if ts and ts[-1] == t:
            ns[-1] = n
        else:
            ts.append(t)
            ns.append(n)
    return Timeline(tuple(sorted(set(labels), key=lane_key)), bars, packed, tuple(ts), tuple(ns))


def _bar_note(rec: TrialRecord, end: float, zone: Zone) -> str:
    """The trial's stop note; an orphan's also says where its bar ends and why."""
    note = stop_note(rec)
    if rec.user_attrs.get(attrs.ORPHANED) and rec.complete is not None and rec.complete > end:
        note += (f" (drawn to its last heartbeat, {zone.clock(end)}; marked failed "
                 f"{zone.clock(rec.complete)} by the next driver)")
    return note


def compute_at(snap: StudySnapshot, times: list[float], now: float | None = None) -> list[float]:
    """Trial-seconds consumed by the study from its start up to each of ``times``.

    ``compute(t) = sum_i overlap([start_i, end_i], (-inf, t])``, evaluated for all
    ``times`` at once from sorted starts and ends with prefix sums.
    """
    now = time.time() if now is None else now
    spans = [(r.start, end) for r in snap.trials
             if r.start is not None and (end := end_time(r, now)) is not None]
    starts = sorted(s for s, _ in spans)
    ends = sorted(e for _, e in spans)
    cs, ce = [0.0], [0.0]
    for s in starts:
        cs.append(cs[-1] + s)
    for e in ends:
        ce.append(ce[-1] + e)
    out = []
    for t in times:
        k, m = bisect_left(starts, t), bisect_left(ends, t)
        out.append((t * k - cs[k]) - (t * m - ce[m]))
    return out
