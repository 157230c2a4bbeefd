"""The driver's ledger: one Optuna trial per Ray trial, recorded truthfully.

Ray Tune tells a search algorithm little about why a trial ended (a trial the
scheduler stopped and one that finished look alike, and trials cut by the
experiment stopper are never reported at all). The ledger is therefore told
each fact where it happens (the scheduler wrapper records stop decisions and
bad values, the callback records results and errors) and decides the Optuna
state itself: COMPLETE, PRUNED at the step reached, or FAIL with a reason.
:meth:`Ledger.close_all` ends whatever is still open, so no trial is ever left
RUNNING when a search returns, however it returns.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo.execution._reads import ReadMemo
from hpo.execution._writer import StoreWriter
from hpo.storage import attrs
from hpo.trainables._wrap import CONTEXT_KEY

if TYPE_CHECKING:
    import optuna

    from hpo.spaces import SearchSpec

# Keys Ray adds to every result; kept out of the stored metric history.
_RAY_KEYS = {
    "timestamp", "time_this_iter_s", "pid", "hostname", "node_ip", "config",
    "time_since_restore", "iterations_since_restore", "training_iteration", "done",
    "trial_id", "date", "experiment_tag", "should_checkpoint", "checkpoint_dir_name",
    "hpo_worker", "experiment_id",
}
ORPHANED = "hpo:orphaned"


def bad_value_reason(metric: str, value: object) -> str | None:
    """Why ``value`` cannot be a score, or None when it is a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"objective {metric!r} is not a number: got {value!r}"
    if not math.isfinite(value):
        return f"objective {metric!r} is not finite: got {value!r}"
    return None


@dataclass
class Entry:
    """What the driver knows about one running trial."""

    trial: optuna.trial.Trial
    started: float
    best: float | None = None
    best_step: int | None = None
    last: float | None = None
    last_step: int = 0
    stop: dict[str, Any] | None = None
    fail: str | None = None
    worker: str | None = None
    closed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Counts:
    running: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    best: float | None = None


class Ledger:
    """Maps Ray trial ids to Optuna trials and writes every fact to the study."""

    def __init__(
        self,
        study: optuna.Study,
        spec: SearchSpec,
        sample: Callable[[optuna.Trial], dict[str, Any]],
        total_trials: int,
        deadline: float | None = None,
    ) -> None:
        self.study = study
        self.spec = spec
        self.metric = spec.objective.metric
        self.sign = spec.objective.sign
        self.value_mode = spec.objective.value
        self.sample = sample
        self.deadline = deadline
        self.entries: dict[str, Entry] = {}
        self.counts = Counts()
        self._lock = threading.Lock()
        self._writer = StoreWriter()
        self.reads = ReadMemo(study._storage)
        self._metric_names = set(study.user_attrs.get(attrs.METRIC_NAMES) or ())
        self._fail_orphans()
        self.already_done = self._finished_in_study()
        self.to_start = max(0, total_trials - self.already_done)
        self.started = 0
        # The next trial's config is sampled while the current ones run (see _prepare).
        self._ask_lock = threading.Lock()
        self._asker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpo-ask")
        self._next: Future[tuple[optuna.Trial, dict[str, Any]]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles its search algorithm and scheduler (which hold the ledger)
        # into its experiment state; the ledger lives only in the driver, so it
        # pickles to nothing rather than to a database engine and a lock.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- study state ----------------------------------------------------------------------

    def _finished_in_study(self) -> int:
        from optuna.trial import TrialState

        done = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                done += 1
            elif t.state == TrialState.FAIL and not t.user_attrs.get(ORPHANED):
                done += 1
        return done

    def _fail_orphans(self) -> None:
        """Trials an earlier, abruptly ended run left RUNNING become FAIL (not counted)."""
        from optuna.trial import TrialState

        storage = self.study._storage
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_user_attr(t._trial_id, ORPHANED, True)
            storage.set_trial_user_attr(
                t._trial_id, attrs.FAIL_REASON,
                "orphaned: the search process that ran it ended without finishing it",
            )
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)

    # -- events ---------------------------------------------------------------------------

    def start(self, ray_id: str) -> dict[str, Any] | None:
        """The next config (sampled ahead when possible), or None when the budget is used."""
        with self._lock:
            if self.started >= self.to_start or self.deadline_passed():
                return None
            self.started += 1
            trial, config = self._take_prepared() or self._ask()
            self.entries[ray_id] = Entry(trial=trial, started=time.time())
            self.counts.running += 1
            if self.started < self.to_start:
                self._next = self._asker.submit(self._prepare)
        full = dict(config)  # fixed values whose conditions hold are already in it
        full[CONTEXT_KEY] = {
            "number": trial.number,
            "seed": trial_seed(self.study.study_name, trial.number),
            "deadline": self.deadline,
            "cpus": self.spec.resources.cpu,
            "model": self.spec.model,
            "data": self.spec.data,
        }
        return full

    # -- sampling ahead ---------------------------------------------------------------------
    #
    # Sampling a config (a TPE ask reads the study and models it: 15-30 ms) used to sit
    # between one trial's end and the next one's start. Instead, right after a trial
    # starts, the next config is sampled on a background thread into a WAITING trial,
    # Optuna's state for "created, not started". Starting it sets it RUNNING, which is
    # when Optuna stamps its start time, so durations stay true. The sampler sees the
    # study as of that moment, as it would see it with one more trial running. A
    # prepared trial the search never starts (the time budget ran out) stays WAITING:
    # Optuna's next ask on the study, e.g. a resumed ``hpo run``, starts it.

    def _ask(self) -> tuple[optuna.Trial, dict[str, Any]]:
        with self._ask_lock:
            trial = self.study.ask()
            return trial, self.sample(trial)

    def _prepare(self) -> tuple[optuna.Trial, dict[str, Any]]:
        import optuna
        from optuna.trial import TrialState, create_trial

        with self._ask_lock:
            # Optuna keeps a per-thread copy of the study's trials that only ask() clears.
            local = getattr(self.study, "_thread_local", None)
            if local is not None and hasattr(local, "cached_all_trials"):
                local.cached_all_trials = None
            storage = self.study._storage
            trial_id = storage.create_new_trial(
                self.study._study_id, template_trial=create_trial(state=TrialState.WAITING))
            trial = optuna.Trial(self.study, trial_id)
            return trial, self.sample(trial)

    def _take_prepared(self) -> tuple[optuna.Trial, dict[str, Any]] | None:
        """The prepared trial, now RUNNING; None if there is none or another process
        started it first."""
        from optuna.trial import TrialState

        future, self._next = self._next, None
        if future is None:
            return None
        trial, config = future.result()  # waits if still sampling; re-raises its error
        if not self.study._storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
            return None
        return trial, config

    def deadline_passed(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def entry(self, ray_id: str) -> Entry | None:
        return self.entries.get(ray_id)

    def record(self, ray_id: str, result: dict[str, Any]) -> None:
        """Store one reported result: intermediate value and every numeric metric."""
        entry = self.entries.get(ray_id)
        if entry is None or entry.closed:
            return
        step = int(result.get("training_iteration", entry.last_step + 1))
        metrics = {
            k: float(v) for k, v in result.items()
            if k not in _RAY_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        raw = result.get(self.metric)
        if raw is not None and self.metric not in metrics:
            metrics[self.metric] = repr(raw)  # type: ignore[assignment]
        trial = entry.trial
        names = None
        if not self._metric_names.issuperset(metrics):
            seen = {k for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)}
            if not self._metric_names.issuperset(seen):
                self._metric_names |= seen
                names = sorted(self._metric_names)
        new_worker = None
        if entry.worker is None and result.get("hpo_worker"):
            entry.worker = new_worker = str(result["hpo_worker"])
        entry.last_step = step
        value = None
        if bad_value_reason(self.metric, raw) is None:
            value = float(raw)  # type: ignore[arg-type]
            entry.last = value
            if entry.best is None or self.sign * value > self.sign * entry.best:
                entry.best, entry.best_step = value, step

        def write() -> None:
            if names is not None:
                self.study.set_user_attr(attrs.METRIC_NAMES, names)
            if new_worker is not None:
                trial.set_user_attr(attrs.WORKER, new_worker)
            trial.set_user_attr(attrs.metrics_key(step), metrics)
            if value is not None:
                trial.report(value, step)

        self._writer.submit(write)

    def mark_stopped(self, ray_id: str, info: dict[str, Any]) -> None:
        entry = self.entries.get(ray_id)
        if entry is not None and entry.stop is None and entry.fail is None:
            entry.stop = info

    def mark_failed(self, ray_id: str, reason: str) -> None:
        entry = self.entries.get(ray_id)
        if entry is not None and entry.fail is None:
            entry.fail = reason

    def finish(self, ray_id: str) -> None:
        """The trial ended without error: decide COMPLETE, PRUNED or FAIL."""
        entry = self.entries.get(ray_id)
        if entry is None or entry.closed:
            return
        if entry.fail is not None:
            self._close(entry, "FAIL")
        elif entry.stop is not None:
            self._close(entry, "PRUNED")
        elif entry.best is None:
            entry.fail = f"trial ended without reporting a numeric {self.metric!r}"
            self._close(entry, "FAIL")
        else:
            self._close(entry, "COMPLETE")

    def error(self, ray_id: str, text: str) -> None:
        entry = self.entries.get(ray_id)
        if entry is None or entry.closed:
            return
        if entry.fail is None:
            entry.fail = text
        self._close(entry, "FAIL")

    def close_all(self, by: str, reason: str) -> None:
        """End every trial still open (PRUNED at the step reached, or FAIL if it failed)
        and wait until everything is written."""
        for entry in list(self.entries.values()):
            if entry.closed:
                continue
            if entry.fail is None and entry.stop is None:
                entry.stop = {"by": by, "rung": entry.last_step, "score": entry.last,
                              "cutoff": None, "reason": reason}
            self._close(entry, "FAIL" if entry.fail is not None else "PRUNED")
        self.flush()

    def flush(self) -> None:
        """Wait until every recorded fact is in the store (re-raises a failed write) and
        the trial being sampled ahead, if any, is created."""
        future = self._next
        if future is not None:
            wait([future])
        self._writer.flush()

    def close(self) -> None:
        """Finish sampling ahead, flush, then stop the writer thread."""
        self._asker.shutdown(wait=True)
        self._writer.close()

    # -- writing the end state ------------------------------------------------------------

    def _close(self, entry: Entry, state_name: str) -> None:
        with self._lock:
            if entry.closed:
                return
            entry.closed = True
        trial = entry.trial
        user_attrs: dict[str, Any] = {attrs.STEP: entry.last_step,
                                      attrs.VALUE_MODE: self.value_mode}
        if entry.best_step is not None:
            user_attrs[attrs.BEST_STEP] = (entry.best_step if self.value_mode == "best"
                                           else entry.last_step)
        if entry.stop is not None and state_name == "PRUNED":
            user_attrs[attrs.STOP] = entry.stop
        if entry.fail is not None:
            user_attrs[attrs.FAIL_REASON] = entry.fail[-4000:]
        value = entry.best if self.value_mode == "best" else entry.last
        study = self.study

        def write() -> None:
            from optuna.trial import TrialState

            for key, item in user_attrs.items():
                trial.set_user_attr(key, item)
            if state_name == "COMPLETE":
                study.tell(trial, value)
            else:
                state = TrialState.PRUNED if state_name == "PRUNED" else TrialState.FAIL
                study.tell(trial, state=state)

        self._writer.submit(write)
        with self._lock:
            self.counts.running -= 1
            if state_name == "COMPLETE":
                self.counts.complete += 1
            elif state_name == "PRUNED":
                self.counts.pruned += 1
            else:
                self.counts.failed += 1
            if state_name == "COMPLETE" and value is not None and (
                self.counts.best is None or self.sign * value > self.sign * self.counts.best
            ):
                self.counts.best = value


def trial_seed(study_name: str, number: int) -> int:
    """The seed a trial's context carries (the trainable uses it unless ``seed`` is set)."""
    digest = hashlib.sha256(f"{study_name}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
