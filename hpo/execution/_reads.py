"""Fewer store reads per ``study.ask()`` while a search runs.

Optuna's cached RDB storage re-reads every unfinished trial from the database on
each ``get_all_trials`` call, and one ``ask`` with the TPE sampler makes three such
calls within milliseconds: one looking for enqueued (WAITING) trials and two while
sampling. On a 2-core machine each costs 5-10 ms, on the critical path between one
trial ending and the next starting. The driver is the only writer of the trials it
runs, and every write it makes goes through the storage object, so:

- a read made when nothing was written since the previous one returns that result;
- the look for WAITING trials is answered from the latest read when it showed none
  and nothing written since could have added one.

Both answers are at most ``max_age_s`` old, so trials another process adds (a
second driver, an ``enqueue_trial`` from a notebook) are still seen within that.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

_WRITES = ("create_new_trial", "set_trial_param", "set_trial_state_values",
           "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
           "set_study_user_attr", "set_study_system_attr")


class ReadMemo:
    """Installs itself on one Optuna storage object (instance attributes only).

    Args:
        storage: the storage of the study the driver asks and tells.
        max_age_s: the oldest read an answer may come from.
    """

    def __init__(self, storage: Any, max_age_s: float = 1.0) -> None:
        self.max_age_s = max_age_s
        self.reads = 0  # reads that went to the store (for tests and benchmarks)
        self._lock = threading.Lock()
        self._generation = 0
        self._memo: tuple[int, int, float, list[Any]] | None = None
        self._waiting_seen = True  # until a read shows there are none
        self._get_all: Callable[..., list[Any]] = storage.get_all_trials
        for name in _WRITES:
            setattr(storage, name, self._writer(name, getattr(storage, name)))
        storage.get_all_trials = self.get_all_trials

    def _writer(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def write(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._generation += 1
                if _may_add_waiting(name, args, kwargs):
                    self._waiting_seen = True
            return method(*args, **kwargs)

        return write

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Sequence[Any] | None = None) -> list[Any]:
        from optuna.trial import TrialState

        now = time.monotonic()
        with self._lock:
            memo, generation, waiting_seen = self._memo, self._generation, self._waiting_seen
        fresh = memo is not None and memo[0] == study_id and now - memo[2] < self.max_age_s
        if fresh and not waiting_seen and states is not None \
                and tuple(states) == (TrialState.WAITING,):
            return []
        if fresh and memo is not None and memo[1] == generation:
            trials = memo[3]
        else:
            trials = self._get_all(study_id, deepcopy=False, states=None)
            with self._lock:
                self.reads += 1
                if self._generation == generation:
                    self._memo = (study_id, generation, now, trials)
                    self._waiting_seen = any(t.state == TrialState.WAITING for t in trials)
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else list(trials)


def _may_add_waiting(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    from optuna.trial import TrialState

    if name == "create_new_trial":
        template = kwargs.get("template_trial", args[1] if len(args) > 1 else None)
        return template is not None and template.state == TrialState.WAITING
    if name == "set_trial_state_values":
        state = kwargs.get("state", args[1] if len(args) > 1 else None)
        return state == TrialState.WAITING
    return False
