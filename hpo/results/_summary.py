"""What every reader says about a study and its trials: summaries, stop notes, best trial.

Built from a :class:`~hpo.results._store.StudySnapshot`, so ``hpo studies``, the
dashboard's studies list and the static report word and count things alike. Times are
UTC epoch seconds; durations are seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

from hpo.results._state import silence, study_state
from hpo.results._store import Store, StudySnapshot, TrialRecord
from hpo.storage import attrs

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
# Leaderboard order of the states: ranked COMPLETE trials first, FAIL last.
_STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


def finite(x: object) -> TypeGuard[float]:
    """Whether ``x`` is a real, finite number (not a bool, NaN or an infinity)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def end_time(rec: TrialRecord, now: float) -> float | None:
    """When a trial stopped running (UTC epoch seconds; still running: ``now``).

    A trial failed as an orphan was stamped FAIL by another process, long after its driver
    died: it ran until its driver's last heartbeat for it, not until it was marked. A
    RUNNING trial whose driver is silent past its bound (see :mod:`hpo.results._state`)
    likewise ends at its last heartbeat.
    """
    if rec.state == "RUNNING":
        quiet = silence(rec, now)
        # A trial whose driver went silent last ran at its last beat, not until now.
        return now - quiet[0] if quiet is not None and quiet[0] > quiet[1] else now
    if rec.complete is None:
        return None
    if rec.user_attrs.get(attrs.ORPHANED):
        beat = rec.user_attrs.get(attrs.HEARTBEAT)
        if finite(beat) and rec.start is not None:
            return min(rec.complete, max(rec.start, float(beat)))
    return rec.complete


def duration(rec: TrialRecord, now: float) -> float | None:
    """Wall seconds a trial ran (still running: until ``now``; an orphan: until its last
    heartbeat, see :func:`end_time`)."""
    if rec.start is None:
        return None
    end = end_time(rec, now)
    return None if end is None else max(0.0, end - rec.start)


def step_reached(rec: TrialRecord) -> int | None:
    """hpo's recorded step, else the last intermediate step, else None."""
    step = rec.user_attrs.get(attrs.STEP)
    if isinstance(step, int):
        return step
    return max(rec.intermediate) if rec.intermediate else None


def _last_line(text: str) -> str:
    """The last non-blank line of ``text``: of a traceback, the exception itself."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def stop_note(rec: TrialRecord) -> str:
    """One line saying why a trial ended early (pruned or failed), or ``""``."""
    if rec.state == "FAIL":
        reason = rec.user_attrs.get(attrs.FAIL_REASON)
        return f"failed: {_last_line(str(reason)) if reason else 'no reason recorded'}"
    stop = rec.user_attrs.get(attrs.STOP)
    if rec.state != "PRUNED" and not stop:
        return ""
    if not isinstance(stop, dict):
        return "stopped early (no explanation recorded)"
    parts = [f"stopped by {stop.get('by', '?')}"]
    reason = str(stop.get("reason") or "")
    # hpo's schedulers word their reason with the step, the score and the cutoff
    # ("at step 4 its accuracy 0.61 was below the cutoff 0.63 ..."): say each fact once.
    if stop.get("rung") is not None and f"at step {stop['rung']}" not in reason:
        parts.append(f"at step {stop['rung']}")
    if finite(stop.get("score")) and finite(stop.get("cutoff")) \
            and f"{stop['cutoff']:.4g}" not in reason:
        parts.append(f"(score {stop['score']:.4g}, cutoff {stop['cutoff']:.4g})")
    if reason:
        return " ".join(parts) + f": {reason}"
    return " ".join(parts)


def stop_head(rec: TrialRecord) -> str:
    """The start of :func:`stop_note` before its details (``" ("`` or ``": "``): who stopped
    the trial and, where the reason does not say it, at which step; ``"failed"``; or ``""``.

    What summaries of thousands of stops count, without wording each note (10,000 notes
    cost about 0.1 s, most of it formatting the scores and cutoffs this leaves out).
    """
    if rec.state == "FAIL":
        return "failed"
    stop = rec.user_attrs.get(attrs.STOP)
    if rec.state != "PRUNED" and not stop:
        return ""
    if not isinstance(stop, dict):
        return "stopped early"
    head = f"stopped by {stop.get('by', '?')}"
    if stop.get("rung") is not None and f"at step {stop['rung']}" not in str(
            stop.get("reason") or ""):
        head += f" at step {stop['rung']}"
    return head.split(" (", 1)[0].split(": ", 1)[0]


def objective_label(snap: StudySnapshot) -> str:
    """The objective's name (hpo's metric attribute), e.g. ``"accuracy"``."""
    metric = snap.meta.user_attrs.get(attrs.METRIC)
    if isinstance(metric, (list, tuple)):  # one name per objective
        return ", ".join(str(m) for m in metric)
    return str(metric) if metric else "objective"


def is_better(direction: str) -> Callable[[float, float], bool]:
    """``better(a, b)``: whether value ``a`` beats ``b`` under ``direction``."""
    if direction == "maximize":
        return lambda a, b: a > b
    return lambda a, b: a < b


def identity(value: object) -> str:
    """A model or data identity attribute as one short string (its name, id or path)."""
    if isinstance(value, dict):
        for key in ("name", "id", "path", "model", "dataset"):
            if value.get(key):
                return str(value[key])
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else str(value)


def rank_key(snap: StudySnapshot) -> Callable[[TrialRecord], tuple[int, float, int]]:
    """Sort key of the leaderboard: COMPLETE by value, then PRUNED by value, then the rest
    (RUNNING, WAITING, FAIL); ties and multi-objective studies by trial number."""
    single = len(snap.meta.directions) == 1
    sign = -1.0 if single and snap.meta.directions[0] == "maximize" else 1.0

    def key(rec: TrialRecord) -> tuple[int, float, int]:
        value = rec.values[0] if single and rec.values else None
        return (_STATE_ORDER.get(rec.state, 5),
                sign * value if finite(value) else math.inf, rec.number)

    return key


def is_ranked(snap: StudySnapshot, rec: TrialRecord) -> bool:
    """Whether ``rec`` takes a rank: a COMPLETE trial with a finite value in a
    single-objective study (several objectives have a front, not a ranking)."""
    return (len(snap.meta.directions) == 1 and rec.state == "COMPLETE"
            and rec.values is not None and finite(rec.values[0]))


def best_trial(snap: StudySnapshot) -> TrialRecord | None:
    """The leaderboard's first trial (see :func:`rank_key`), or None when none is ranked."""
    ranked = [rec for rec in snap.trials if is_ranked(snap, rec)]
    return min(ranked, key=rank_key(snap)) if ranked else None


@dataclass(frozen=True)
class StudySummary:
    """One study at a glance: a row of ``hpo studies`` and of the dashboard's list."""

    name: str
    state: str  # one of hpo.results._state.STUDY_STATES: running, completed, time budget, ...
    state_note: str  # what in the store shows that state (see hpo.results._state)
    counts: dict[str, int]  # trials by state, every one of STATES present
    n_trials: int
    best: float | None  # None: no ranked trial (or several objectives)
    metric: str
    directions: tuple[str, ...]
    started: float | None
    duration_s: float
    compute_s: float  # trial-seconds: every trial's wall time added up
    model: str
    data: str

    @property
    def complete(self) -> int:
        return self.counts.get("COMPLETE", 0)

    @property
    def pruned(self) -> int:
        return self.counts.get("PRUNED", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("FAIL", 0)

    @property
    def running(self) -> int:
        return self.counts.get("RUNNING", 0)

    @property
    def waiting(self) -> int:
        """Enqueued (``study.enqueue_trial``), not started: the next run starts them first."""
        return self.counts.get("WAITING", 0)

    @property
    def direction(self) -> str:
        """The objective's direction (several objectives: comma-separated)."""
        return ", ".join(self.directions)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields, plus the counts and direction flat, as ``hpo studies``
        has always printed them."""
        out = asdict(self)
        out.update(complete=self.complete, pruned=self.pruned, failed=self.failed,
                   running=self.running, waiting=self.waiting, direction=self.direction)
        return out


def summarize(snap: StudySnapshot, now: float | None = None) -> StudySummary:
    """Counts by state, best value, duration and compute of a study."""
    now = time.time() if now is None else now
    counts = dict.fromkeys(STATES, 0)
    starts: list[float] = []
    ends: list[float] = []
    compute = 0.0
    for rec in snap.trials:
        counts[rec.state] = counts.get(rec.state, 0) + 1
        d = duration(rec, now)
        if d is not None and rec.start is not None:
            compute += d
            starts.append(rec.start)
            ends.append(rec.start + d)
    best = best_trial(snap)
    state = study_state(snap, now)
    return StudySummary(
        name=snap.meta.name, state=state.state, state_note=state.note, counts=counts,
        n_trials=len(snap.trials),
        best=best.values[0] if best is not None and best.values else None,
        metric=objective_label(snap), directions=snap.meta.directions,
        started=min(starts) if starts else None,
        duration_s=(max(ends) - min(starts)) if starts else 0.0, compute_s=compute,
        model=identity(snap.meta.user_attrs.get(attrs.MODEL)),
        data=identity(snap.meta.user_attrs.get(attrs.DATA)))


def summaries(store: Store, now: float | None = None) -> list[StudySummary]:
    """:func:`summarize` of every study in ``store``, in creation order."""
    now = time.time() if now is None else now
    return [summarize(store.snapshot(name), now) for name in store.study_names()]
