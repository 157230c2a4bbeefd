"""Which RUNNING trials still have a live driver: heartbeats, and failing the stale ones.

Every driver stamps each trial it runs with ``hpo:heartbeat`` (wall-clock seconds)
when it starts and then every ``interval`` seconds, and with ``hpo:stale_after``,
the silence after which it may be taken for dead. Any driver on the study (and
every new run as it starts) fails the RUNNING trials of *other* drivers whose
last beat is older than their own ``stale_after``, with the reason stored. A
trial that was never stamped (written by an older hpo, or by a plain Optuna
process) counts as beating when it started.

Optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)``) is tied to
``study.optimize``'s per-trial thread and can store no reason on the trial it
fails; a user attribute written through the public API does both, and the dashboard
reads it like any other attribute. Clocks of the drivers' machines are assumed to
agree to within a few seconds (NTP), far below the default bound.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.storage import attrs

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

#: Default silence after which another driver fails a trial (``--stale-after``).
DEFAULT_STALE_AFTER_S = 40.0


def beat_interval(stale_after: float) -> float:
    """How often a driver beats: four beats fit in the bound, so one slow write is no death."""
    return max(0.2, stale_after / 4)


@dataclass(frozen=True)
class Stale:
    """A RUNNING trial nobody beats for any more, and why it is taken for dead."""

    number: int
    reason: str


def find_stale(trials: Iterable[optuna.trial.FrozenTrial], now: float, mine: set[int],
               default_after: float = DEFAULT_STALE_AFTER_S) -> list[Stale]:
    """The RUNNING trials, other than the numbers in ``mine``, whose driver went quiet."""
    from optuna.trial import TrialState

    out = []
    for t in trials:
        if t.state != TrialState.RUNNING or t.number in mine:
            continue
        ua = t.user_attrs
        after = _number(ua.get(attrs.STALE_AFTER)) or default_after
        beat = _number(ua.get(attrs.HEARTBEAT))
        if beat is None:
            beat = _timestamp(t.datetime_start)
        if beat is None or now - beat <= after:
            continue
        driver = ua.get(attrs.DRIVER)
        who = f"its driver {driver}" if driver else "the process that ran it"
        out.append(Stale(t.number, (
            f"orphaned: no heartbeat from {who} for {now - beat:.0f} s (bound {after:g} s); "
            "it ended without finishing the trial")))
    return out


def fail_stale(storage: optuna.storages.BaseStorage, study_id: int,
               stale: Iterable[Stale]) -> list[int]:
    """Store each stale trial as FAIL with its reason; returns the numbers this call failed.

    Another driver may fail the same trial at the same moment; whoever comes second
    finds it finished and leaves it.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    done = []
    for item in stale:
        try:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, item.number)
            storage.set_trial_user_attr(trial_id, attrs.ORPHANED, True)
            storage.set_trial_user_attr(trial_id, attrs.FAIL_REASON, item.reason)
            if storage.set_trial_state_values(trial_id, TrialState.FAIL):
                done.append(item.number)
        except (UpdateFinishedTrialError, KeyError):
            continue
    return done


def repair_stale(study: optuna.Study, storage: optuna.storages.BaseStorage, study_id: int,
                 mine: set[int], default_after: float = DEFAULT_STALE_AFTER_S) -> list[int]:
    """Fail the study's stale RUNNING trials other than ``mine``; the numbers failed.

    Nothing is failed while this process had a store error within the bound: during an
    outage no driver could write its heartbeat, so silence then is no sign of death, and
    failing a live driver's trials would throw its results away once the store is back.
    """
    from optuna.trial import TrialState

    from hpo.storage._retry import seconds_since_trouble

    since = seconds_since_trouble()
    if since is not None and since < default_after:
        return []

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    stale = find_stale(running, time.time(), mine, default_after)
    return fail_stale(storage, study_id, stale) if stale else []


class Heartbeat:
    """A daemon thread that calls ``beat`` every ``interval`` seconds until stopped.

    ``beat`` does the work (stamp the live trials, look for stale ones); an error in
    it is logged and the thread goes on, since a store that hiccups once must not
    end the heartbeat for the rest of the search.
    """

    def __init__(self, beat: Callable[[], Any], interval: float) -> None:
        self._beat = beat
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpo-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except Exception as exc:  # noqa: BLE001 - logged; the next beat tries again
                log.warning("heartbeat failed (will retry): %s", exc)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _timestamp(when: datetime.datetime | None) -> float | None:
    # Optuna stores naive local datetimes.
    return None if when is None else when.timestamp()
