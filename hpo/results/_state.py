"""Why a study is where it is: running, or how its last run ended, read from the store.

The evidence is what the execution core records (see :mod:`hpo.storage.attrs`):

- ``hpo:heartbeat`` / ``hpo:stale_after`` on RUNNING trials: a trial whose driver beat
  within its bound is running; one silent for longer belongs to a driver that died
  (``kill -9``, a lost machine). The rule is the one drivers apply before failing a
  trial as orphaned (:func:`hpo.execution._liveness.find_stale`), so the page never
  calls running what the next driver will fail.
- ``hpo:runs``: each run's record; a run that returns records how it ended (``end``:
  ``completed`` its trial budget, ``time_budget``, ``interrupted`` by a signal, or
  ``error``). A run record without an end whose trials are no longer running is a
  driver that died before it could write one.
- Trials' ``hpo:stop`` (``by: budget`` / ``interrupted``) and ``hpo:orphaned``, for
  studies written before runs recorded their end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpo.results._store import StudySnapshot, TrialRecord
from hpo.storage import attrs

# Study states, as every reader words them (``hpo studies``, the dashboard, the report).
RUNNING = "running"
COMPLETED = "completed"  # the run used its trial budget
TIME_BUDGET = "time budget"  # the run's time budget was spent
INTERRUPTED = "interrupted"  # SIGINT/SIGTERM (or Ctrl-C)
CRASHED = "crashed"  # the driver died, or the run ended with an error
WAITING = "waiting"  # enqueued trials only, none started
ENDED = "ended"  # finished, but the store says nothing about why (not written by hpo)
EMPTY = "empty"
STUDY_STATES = (RUNNING, COMPLETED, TIME_BUDGET, INTERRUPTED, CRASHED, WAITING, ENDED, EMPTY)

# Same default as hpo.execution._liveness.DEFAULT_STALE_AFTER_S (not imported: this
# package stays light); a trial stamped with its own bound uses that.
DEFAULT_STALE_AFTER_S = 40.0
_END_STATES = {"completed": COMPLETED, "time_budget": TIME_BUDGET,
               "interrupted": INTERRUPTED, "error": CRASHED}


@dataclass(frozen=True)
class StudyState:
    """A study's state and one sentence saying what in the store shows it."""

    state: str  # one of STUDY_STATES
    note: str


def _number(x: object) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def silence(rec: TrialRecord, now: float) -> tuple[float, float] | None:
    """(seconds since the trial's driver last beat, the bound it keeps) of a RUNNING trial;
    a trial never stamped counts as beating when it started. None: no time known."""
    beat = _number(rec.user_attrs.get(attrs.HEARTBEAT))
    if beat is None:
        beat = rec.start
    if beat is None:
        return None
    bound = _number(rec.user_attrs.get(attrs.STALE_AFTER)) or DEFAULT_STALE_AFTER_S
    return max(0.0, now - beat), bound


def silent_note(rec: TrialRecord, now: float) -> str:
    """For a RUNNING trial whose driver went silent past its bound: one line saying so
    (the store still says RUNNING until another driver fails it); otherwise ``""``."""
    if rec.state != "RUNNING":
        return ""
    s = silence(rec, now)
    if s is None or s[0] <= s[1]:
        return ""
    return (f"no heartbeat for {s[0]:.0f} s (bound {s[1]:g} s): its driver stopped; the next "
            "run on the study fails it as an orphan")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def study_state(snap: StudySnapshot, now: float) -> StudyState:
    """The state of ``snap``'s study at ``now`` (UTC epoch seconds), with its evidence."""
    trials = snap.trials
    if not trials:
        return StudyState(EMPTY, "no trial yet")
    running = [r for r in trials if r.state == "RUNNING"]
    waiting = sum(r.state == "WAITING" for r in trials)
    queued = f"; {_plural(waiting, 'enqueued trial')} waiting" if waiting else ""
    live: list[tuple[TrialRecord, tuple[float, float] | None]] = []
    dead: list[tuple[TrialRecord, tuple[float, float] | None]] = []
    for rec in running:
        s = silence(rec, now)
        (dead if s is not None and s[0] > s[1] else live).append((rec, s))
    if live:
        last = min((s[0] for _, s in live if s is not None), default=None)
        beat = f", last heartbeat {last:.0f} s ago" if last is not None else ""
        return StudyState(RUNNING, f"{_plural(len(live), 'trial')} running{beat}{queued}")
    if dead:
        quiet = min(s[0] for _, s in dead if s is not None)  # dead ones all have a time
        driver = dead[0][0].user_attrs.get(attrs.DRIVER)
        who = f"driver {driver}" if driver else "its driver"
        return StudyState(CRASHED, (
            f"{who} stopped: no heartbeat for {quiet:.0f} s; {_plural(len(dead), 'trial')} "
            "left RUNNING will be failed as orphans by the next run"))
    if waiting == len(trials):
        return StudyState(WAITING, f"{_plural(waiting, 'enqueued trial')}, none started yet")
    runs = snap.meta.user_attrs.get(attrs.RUNS)
    last_run: dict[str, Any] | None = runs[-1] if isinstance(runs, list) and runs \
        and isinstance(runs[-1], dict) else None
    if last_run is not None and last_run.get("end") in _END_STATES:
        note = str(last_run.get("note") or last_run["end"])
        return StudyState(_END_STATES[last_run["end"]],
                          f"run {last_run.get('run')}: {note}{queued}")
    return _from_trials(trials, last_run, queued)


def _from_trials(trials: tuple[TrialRecord, ...], last_run: dict[str, Any] | None,
                 queued: str) -> StudyState:
    """How the last run ended, from its trials (a run that recorded no end)."""
    driver = last_run.get("driver") if last_run else None
    mine = [r for r in trials if driver is None or r.user_attrs.get(attrs.DRIVER) == driver]
    orphans = [r for r in trials if r.user_attrs.get(attrs.ORPHANED)]
    stops = [r.user_attrs.get(attrs.STOP) for r in mine]
    by = {s.get("by") for s in stops if isinstance(s, dict)}
    for key, state in (("budget", TIME_BUDGET), ("interrupted", INTERRUPTED)):
        if key in by:
            why = next(s.get("reason") for s in stops
                       if isinstance(s, dict) and s.get("by") == key)
            return StudyState(state, f"{why or state}{queued}")
    if last_run is not None:
        # hpo recorded the run but not its end: the driver died before writing it.
        return StudyState(CRASHED, f"run {last_run.get('run')} (driver {driver}) never recorded "
                          f"its end: its driver died{queued}")
    if orphans:
        return StudyState(CRASHED, f"{_plural(len(orphans), 'trial')} failed as orphans after "
                          f"their driver died{queued}")
    return StudyState(ENDED, f"no run is running; the store records no end reason{queued}")
