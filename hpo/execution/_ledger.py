"""The driver's ledger: one Optuna trial per Ray trial, recorded truthfully.

Ray Tune tells a search algorithm little about why a trial ended (a trial the
scheduler stopped and one that finished look alike, and trials cut by the
experiment stopper are never reported at all). The ledger is therefore told
each fact where it happens (the scheduler wrapper records stop decisions and
bad values, the callback records results and errors) and decides the Optuna
state itself: COMPLETE, PRUNED at the step reached, or FAIL with a reason.
:meth:`Ledger.close_all` ends whatever is still open, so no trial is ever left
RUNNING when a search returns, however it returns; and if the driver itself dies,
its trials stop beating and the next driver on the study fails them.

Retries are the ledger's too (``max_retries``): a failed attempt is written to the
trial's ``hpo:retries`` history and the same Optuna trial is handed to Ray again, as
a new Ray trial with the same config and the attempt's last checkpoint. Ray Tune's
own ``FailureConfig`` restarts are not used: Ray retries every error alike, while a
time limit, an out-of-memory config or a bad value would fail the same way again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo.execution._claims import claim_trial, counts_as_done, uses_budget
from hpo.execution._clock import Clock, WallClock
from hpo.execution._liveness import DEFAULT_STALE_AFTER_S, repair_stale
from hpo.execution._runs import trial_seed
from hpo.execution._store_writer import writer_for
from hpo.storage import attrs
from hpo.storage._recovery import end_record
from hpo.trainables._device import HARDWARE_KEY
from hpo.trainables._wrap import CONTEXT_KEY, INFEASIBLE_KEY, RUNG_ONLY_KEY

if TYPE_CHECKING:
    import optuna

    from hpo.execution._study_lock import StudyLock
    from hpo.spaces import SearchSpec

log = logging.getLogger(__name__)

# Keys Ray adds to every result; kept out of the stored metric history.
RAY_KEYS = {
    "timestamp", "time_this_iter_s", "pid", "hostname", "node_ip", "config",
    "time_since_restore", "iterations_since_restore", "training_iteration", "done",
    "trial_id", "date", "experiment_tag", "should_checkpoint", "checkpoint_dir_name",
    "hpo_worker", "hpo_node", "experiment_id", INFEASIBLE_KEY, HARDWARE_KEY,
}

#: What :meth:`Ledger.start` returns when no trial can start now but one may be
#: retried later (the searcher tells Ray "not yet" rather than "finished").
WAIT = "wait"
#: The Optuna constraint an infeasible trial violates (see :meth:`Ledger.mark_infeasible`).
INFEASIBLE_CONSTRAINT = "hpo_infeasible"


def is_real(value: object) -> bool:
    """A real number of any type (int, float, NumPy and torch scalars registered as
    ``numbers.Real``), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and type(value).__name__ != "bool_"


def bad_value_reason(metric: str, value: object) -> str | None:
    """Why ``value`` cannot be a score, or None when it is a finite real number."""
    if not is_real(value):
        return f"objective {metric!r} is not a number: got {value!r}"
    if not math.isfinite(float(value)):  # type: ignore[arg-type]
        return f"objective {metric!r} is not finite: got {value!r}"
    return None


@dataclass
class Entry:
    """What the driver knows about one running trial."""

    trial: optuna.trial.Trial
    started: float
    best: float | None = None
    best_step: int | None = None
    best_tiebreak: float | None = None  # the tiebreak metric at best_step, when the space has one
    last: float | None = None  # the last reported score, a rung subset's included
    last_step: int = 0
    # The last score on the whole validation split and its step: the trial's value and
    # hpo:best_step under ``objective.value: last``. A rung subset's score (evaluations
    # before an epoch's end) can be the last report when budget.max_steps ends a trial
    # mid-epoch; like a best value, the stored value never comes from the subset.
    scored: float | None = None
    scored_step: int | None = None
    stop: dict[str, Any] | None = None
    fail: str | None = None
    worker: str | None = None
    closed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    ray_id: str | None = None  # the Ray trial running the current attempt (None: waiting)
    config: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    base: int = 0  # the step this attempt resumed from (its checkpoint's step)
    position: int = 0  # the step the current attempt has reached
    checkpoint: tuple[str, int] | None = None  # (directory, step) of the latest one
    retries: list[dict[str, Any]] = field(default_factory=list)
    infeasible: str | None = None
    div_start: float | None = None


@dataclass
class Counts:
    running: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    best: float | None = None


class Ledger:
    """Maps Ray trial ids to Optuna trials and writes every fact to the study.

    Several drivers may run one study at once: each claims trials under the study
    lock (see :mod:`hpo.execution._study_lock`), so the trial budget holds for the
    study as a whole, and each keeps its own trials alive with heartbeats (see
    :mod:`hpo.execution._liveness`), failing only other drivers' trials that went
    quiet.

    Args:
        study: the opened study (:func:`hpo.storage.open_study`).
        spec: the search space.
        sample: the define-by-run function that suggests a trial's parameters.
        total_trials: the trial budget of the study as a whole, earlier runs included.
        deadline: wall-clock time after which no trial starts.
        storage: the study's storage, for failing other drivers' stale trials (None:
            this driver repairs nothing, as in unit tests of one ledger).
        lock: the study lock shared with the other drivers (None: a lock within this
            process, for one driver).
        driver: this driver's name, stamped on its trials.
        stale_after: seconds of silence after which a trial's driver counts as dead.
        clock: what the deadline is checked against (the wall clock by default).
        max_retries: times a failed trial runs again (default: the space's).
    """

    def __init__(
        self,
        study: optuna.Study,
        spec: SearchSpec,
        sample: Callable[[optuna.Trial], dict[str, Any]],
        total_trials: int,
        deadline: float | None = None,
        *,
        storage: optuna.storages.BaseStorage | None = None,
        lock: StudyLock | None = None,
        driver: str = "",
        stale_after: float = DEFAULT_STALE_AFTER_S,
        clock: Clock | None = None,
        max_retries: int | None = None,
    ) -> None:
        self.study = study
        self.spec = spec
        self.metric = spec.objective.metric
        self.sign = spec.objective.sign
        self.value_mode = spec.objective.value
        self.sample = sample
        self.deadline = deadline
        self.clock: Clock = clock if clock is not None else WallClock()
        self.total = total_trials
        self.max_retries = spec.max_retries if max_retries is None else max_retries
        self.trial_time = spec.budget.trial_time
        self.divergence = spec.divergence
        self._waiting: list[Entry] = []  # failed attempts to run again, oldest first
        self.storage = storage
        self.lock = lock if lock is not None else _process_lock()
        self.driver = driver
        self.stale_after = stale_after
        self.study_id = None if storage is None else storage.get_study_id_from_name(
            study.study_name)
        self.entries: dict[str, Entry] = {}
        self.counts = Counts()
        self.interrupted: str | None = None
        self._lock = threading.Lock()
        self._writer = writer_for(storage, study.study_name)
        self._lost: set[int] = set()
        stored = study.user_attrs
        self._metric_names = set(stored.get(attrs.METRIC_NAMES) or ())
        #: The study's rung check as this run found it (``hpo:rungs``; None: never ran).
        self.rungs_record: dict[str, Any] | None = stored.get(attrs.RUNGS)
        self.repair_stale()
        trials = self.study.get_trials(deepcopy=False)
        self.already_done = sum(1 for t in trials if counts_as_done(t))
        self.to_start = max(0, total_trials - sum(1 for t in trials if uses_budget(t)))
        self.started = 0

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles its search algorithm and scheduler (which hold the ledger)
        # into its experiment state; the ledger lives only in the driver, so it
        # pickles to nothing rather than to a database engine and a lock.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- liveness ---------------------------------------------------------------------------

    def repair_stale(self) -> list[int]:
        """Fail other drivers' RUNNING trials whose heartbeat stopped; their numbers."""
        if self.storage is None or self.study_id is None:
            return []
        mine = {e.trial.number for e in list(self.entries.values()) if not e.closed}
        return repair_stale(self.study, self.storage, self.study_id, mine, self.stale_after)

    def beat(self) -> None:
        """One heartbeat: stamp every open trial of this driver, then repair stale ones."""
        now = time.time()
        for entry in list(self.entries.values()):
            if not entry.closed:
                self._submit(entry, _stamp(entry.trial, attrs.HEARTBEAT, now))
        self.repair_stale()

    # -- events ---------------------------------------------------------------------------

    def should_end(self) -> bool:
        """True once the time budget is spent or the search was interrupted."""
        return self.interrupted is not None or self.deadline_passed()

    def start(self, ray_id: str) -> dict[str, Any] | str | None:
        """The next config to run: a failed trial's next attempt first, else a new
        trial's; :data:`WAIT` when none now but a running trial may still be retried;
        None when the study's budget is used."""
        with self._lock:
            if self.should_end():
                return None
            if self._waiting:
                entry = self._waiting.pop(0)
                entry.ray_id, entry.started = ray_id, self.clock.time()
                entry.attempt += 1
                entry.base = entry.position = entry.checkpoint[1] if entry.checkpoint else 0
                self.entries[ray_id] = entry
                return self._with_context(entry)
            trial = claim_trial(self.study, self.lock, self.total)
            if trial is None:
                retriable = any(not e.closed and e.attempt < self.max_retries
                                for e in self.entries.values())
                return WAIT if retriable else None
            self.started += 1
            entry = Entry(trial=trial, started=self.clock.time(), ray_id=ray_id)
            self.entries[ray_id] = entry
            self.counts.running += 1
        # The sampler reads the study: every outcome this driver has recorded must be in
        # it first, or a seeded search at concurrency 1 samples from whichever end states
        # the writer thread happened to have applied (not reproducible, and a finished
        # trial's result unused). One wait per trial start.
        self.flush()
        config = self.sample(trial)
        stamp = {attrs.DRIVER: self.driver, attrs.HEARTBEAT: time.time(),
                 attrs.STALE_AFTER: self.stale_after}

        def write() -> None:
            for key, value in stamp.items():
                trial.set_user_attr(key, value)

        self._submit(entry, write)
        entry.config = dict(config)  # fixed values whose conditions hold are already in it
        return self._with_context(entry)

    def _with_context(self, entry: Entry) -> dict[str, Any]:
        full = dict(entry.config)
        number = entry.trial.number
        full[CONTEXT_KEY] = {
            "number": number,
            "seed": trial_seed(self.study.study_name, number),
            "deadline": self.deadline,
            "cpus": self.spec.resources.cpu,
            "model": self.spec.model,
            "data": self.spec.data,
            "attempt": entry.attempt,
            "trial_time": self.trial_time,
            "restore": entry.checkpoint[0] if entry.checkpoint else None,
            "start_step": entry.base,
        }
        return full

    def deadline_passed(self) -> bool:
        return self.deadline is not None and self.clock.time() >= self.deadline

    def entry(self, ray_id: str) -> Entry | None:
        """The open attempt ``ray_id`` runs (None once that attempt has ended)."""
        entry = self.entries.get(ray_id)
        return entry if entry is not None and entry.ray_id == ray_id else None

    def step_offset(self, ray_id: str) -> int:
        """What to add to a Ray trial's ``training_iteration`` for the trial's step: the
        step its attempt resumed from."""
        entry = self.entry(ray_id)
        return 0 if entry is None else entry.base

    def record(self, ray_id: str, result: dict[str, Any]) -> None:
        """Store one reported result: intermediate value and every numeric metric.

        A retried attempt's steps go on from its checkpoint's step. Steps already
        stored (an attempt that resumed before the step its predecessor reached, or
        restarted from scratch without a checkpoint) are not stored again, so stored
        steps are strictly increasing.
        """
        entry = self.entry(ray_id)
        if entry is None or entry.closed or INFEASIBLE_KEY in result:
            return
        raw_step = int(result.get("training_iteration", entry.position - entry.base + 1))
        step = entry.base + raw_step
        entry.position = step
        if step <= entry.last_step:
            return
        metrics = {
            k: float(v) for k, v in result.items()
            if k not in RAY_KEYS and is_real(v)
        }
        raw = result.get(self.metric)
        if raw is not None and self.metric not in metrics:
            metrics[self.metric] = repr(raw)  # type: ignore[assignment]
        trial = entry.trial
        names = None
        if not self._metric_names.issuperset(metrics):
            # hpo's own flags (hpo_rung_only) stay in the history but are no curve to offer.
            seen = {k for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)
                    and not k.startswith("hpo_")}
            if not self._metric_names.issuperset(seen):
                self._metric_names |= seen
                names = sorted(self._metric_names)
        placed: dict[str, Any] = {}
        if entry.worker is None and result.get("hpo_worker"):
            entry.worker = placed[attrs.WORKER] = str(result["hpo_worker"])
            if result.get("hpo_node"):
                placed[attrs.NODE] = str(result["hpo_node"])
        if isinstance(result.get(HARDWARE_KEY), str):  # built-in trainables, first report
            with contextlib.suppress(ValueError):
                placed[attrs.HARDWARE] = json.loads(result[HARDWARE_KEY])
        entry.last_step = step
        value = None
        if bad_value_reason(self.metric, raw) is None:
            value = float(raw)  # type: ignore[arg-type]
            entry.last = value
            # A score on the validation subset feeds the scheduler's rung (it is reported
            # to Optuna as the step's value) but never becomes the trial's value.
            if not result.get(RUNG_ONLY_KEY):
                entry.scored, entry.scored_step = value, step
                self._note_best(entry, value, step, result)

        def write() -> None:
            if names is not None:
                self.study.set_user_attr(attrs.METRIC_NAMES, names)
            for key, where in placed.items():
                trial.set_user_attr(key, where)
            trial.set_user_attr(attrs.metrics_key(step), metrics)
            if value is not None:
                trial.report(value, step)

        self._submit(entry, write)

    def _note_best(self, entry: Entry, value: float, step: int, result: dict[str, Any]) -> None:
        """Keep the trial's best value and the step it came at.

        On a tie the objective's tiebreak (``eval_loss`` in the shipped spaces) picks the
        step, as it orders trials tied at a rung: a trial at the same accuracy after
        epochs 1, 2 and 3 is retrained to the step with the lowest validation loss, not
        stopped after epoch 1 of a schedule planned for 3. Without a tiebreak the first
        step stays.
        """
        objective = self.spec.objective
        raw = result.get(objective.tiebreak or "")
        other = float(raw) if isinstance(raw, (int, float)) and math.isfinite(raw) else None
        better = entry.best is None or self.sign * value > self.sign * entry.best
        tie_won = value == entry.best and other is not None and (
            entry.best_tiebreak is None
            or objective.tiebreak_sign * other > objective.tiebreak_sign * entry.best_tiebreak)
        if better or tie_won:
            entry.best, entry.best_step, entry.best_tiebreak = value, step, other

    def record_rungs(self, record: dict[str, Any]) -> None:
        """Store the scheduler's rung check (see :mod:`hpo.execution._rung_check`) on the
        study, keeping the moves another driver on the study stored meanwhile."""
        from hpo.execution._rung_check import merge_records

        def write() -> None:
            stored = self.study.user_attrs.get(attrs.RUNGS)
            self.study.set_user_attr(attrs.RUNGS, merge_records(stored, record))

        self._writer.submit(write)

    def mark_stopped(self, ray_id: str, info: dict[str, Any]) -> None:
        entry = self.entry(ray_id)
        if entry is not None and entry.stop is None and entry.fail is None:
            entry.stop = info

    def mark_failed(self, ray_id: str, reason: str) -> None:
        entry = self.entry(ray_id)
        if entry is not None and entry.fail is None:
            entry.fail = reason

    def mark_infeasible(self, ray_id: str, reason: str) -> None:
        """The config cannot run (out of memory): the trial ends PRUNED at the step it
        reached with ``hpo:fail_reason`` and ``hpo:infeasible``, and a violated Optuna
        constraint, so the sampler steers away from it. Not FAIL: Optuna's samplers
        read neither FAIL trials nor their constraints (TPE models COMPLETE and PRUNED
        trials, infeasible ones among them)."""
        entry = self.entry(ray_id)
        if entry is None or entry.fail is not None:
            return
        entry.infeasible = reason
        entry.stop = {"by": "infeasible", "rung": entry.last_step, "score": entry.last,
                      "cutoff": None, "reason": reason}

    def on_checkpoint(self, ray_id: str, path: str) -> None:
        """The attempt saved a checkpoint with its latest report; a retry resumes there."""
        entry = self.entry(ray_id)
        if entry is not None and not entry.closed:
            entry.checkpoint = (str(path), entry.position)

    def divergence_info(self, ray_id: str, result: dict[str, Any]) -> dict[str, Any] | None:
        """The stop record when ``result`` shows the trial diverged (see
        :class:`hpo.spaces.Divergence`), else None."""
        rule, entry = self.divergence, self.entry(ray_id)
        if rule is None or entry is None or rule.metric not in result:
            return None
        raw = result[rule.metric]
        step = entry.base + int(result.get("training_iteration", 0))
        info: dict[str, Any] = {"by": "divergence", "rung": step, "score": None,
                                "cutoff": None}
        if bad_value_reason(rule.metric, raw) is not None:
            return {**info, "reason": f"at step {step} its {rule.metric} was not a finite "
                    f"number: {raw!r}"}
        value = float(raw)
        if entry.div_start is None:
            entry.div_start = value
            return None
        bound = rule.bound(entry.div_start)
        if value <= bound:
            return None
        return {**info, "score": value, "cutoff": bound,
                "reason": f"at step {step} its {rule.metric} {value:.4g} exceeded "
                          f"{rule.max_ratio:g}x its start {entry.div_start:.4g} "
                          f"(bound {bound:.4g}): diverged"}

    def _past_trial_time(self, entry: Entry) -> bool:
        return self.trial_time is not None and \
            self.clock.time() >= entry.started + self.trial_time

    def _trial_time_stop(self, entry: Entry, how: str) -> None:
        entry.stop = {"by": "trial_time", "rung": entry.last_step, "score": entry.last,
                      "cutoff": None,
                      "reason": f"its time limit of {self.trial_time:g} s (budget.trial_time) "
                                f"was reached; {how}"}

    def finish(self, ray_id: str) -> None:
        """The trial ended without error: decide COMPLETE, PRUNED or FAIL."""
        entry = self.entry(ray_id)
        if entry is None or entry.closed:
            return
        if entry.fail is None and entry.stop is None and self._past_trial_time(entry) \
                and entry.last_step < self.spec.budget.max_steps:
            self._trial_time_stop(entry, "it stopped when asked")
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
        """The attempt raised or its worker died: run it again if retries are left,
        else FAIL. A worker ended at a time limit is a stop, not a failure."""
        entry = self.entry(ray_id)
        if entry is None or entry.closed:
            return
        if entry.fail is None and entry.stop is None:
            if self._past_trial_time(entry):
                if entry.best is not None:
                    self._trial_time_stop(entry, "it did not stop when asked, so its "
                                                 "worker was ended")
                else:
                    entry.fail = (f"no numeric {self.metric!r} reported within its time limit "
                                  f"of {self.trial_time:g} s (budget.trial_time)")
            elif self.should_end() and _worker_died(text):
                return  # ended with the search: close_all stores it PRUNED at its step
            elif entry.attempt < self.max_retries:
                self._retry_later(entry, text)
                return
        if entry.fail is None and entry.stop is None:
            entry.fail = text
        self._close(entry, "PRUNED" if entry.fail is None else "FAIL")

    def _retry_later(self, entry: Entry, text: str) -> None:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        entry.retries.append({
            "attempt": entry.attempt, "step": entry.position, "at": time.time(),
            "error": (lines[-1] if lines else text)[-500:],
            "resumes_from": entry.checkpoint[1] if entry.checkpoint else 0,
        })
        history = [dict(item) for item in entry.retries]
        entry.ray_id = None
        entry.extra["last_error"] = text
        with self._lock:
            self._waiting.append(entry)
        self._submit(entry, _stamp(entry.trial, attrs.RETRIES, history))
        log.info("trial %d failed (attempt %d of %d); running it again from step %d",
                 entry.trial.number, entry.attempt + 1, self.max_retries + 1,
                 history[-1]["resumes_from"])

    def close_all(self, by: str, reason: str) -> None:
        """End every trial still open (PRUNED at the step reached, or FAIL if it failed)
        and wait until everything is written."""
        for entry in list(self.entries.values()):
            if entry.closed:
                continue
            if entry.ray_id is None and entry.fail is None:
                # Failed and waiting for a retry the search ended before.
                entry.fail = str(entry.extra.get("last_error", "the trial failed"))
            if entry.fail is None and entry.stop is None:
                entry.stop = {"by": by, "rung": entry.last_step, "score": entry.last,
                              "cutoff": None, "reason": reason}
            self._close(entry, "FAIL" if entry.fail is not None else "PRUNED")
        self.flush()

    def flush(self) -> None:
        """Wait until every recorded fact is in the store (re-raises a failed write)."""
        self._writer.flush()

    def close(self) -> None:
        """Flush, then stop the writer thread."""
        self._writer.close()

    def _submit(self, entry: Entry, write: Callable[[], None],
                recovery: dict[str, Any] | None = None) -> None:
        """Queue a write to one of this driver's trials.

        If another driver took the trial for dead (this process was suspended longer
        than the heartbeat bound) and failed it, the store refuses further writes to
        it; that is said once and the search goes on.
        """
        number = entry.trial.number

        def guarded() -> None:
            from optuna.exceptions import UpdateFinishedTrialError

            if number in self._lost:
                return
            try:
                write()
            except UpdateFinishedTrialError:
                self._lost.add(number)
                log.warning("trial %d was ended by another driver (no heartbeat from this "
                            "one within %g s); its later results are not stored",
                            number, self.stale_after)

        self._writer.submit(guarded, recovery)

    # -- writing the end state ------------------------------------------------------------

    def _close(self, entry: Entry, state_name: str) -> None:
        with self._lock:
            if entry.closed:
                return
            entry.closed = True
        trial = entry.trial
        user_attrs: dict[str, Any] = {attrs.STEP: entry.last_step,
                                      attrs.VALUE_MODE: self.value_mode}
        if self.value_mode == "best":
            value, value_step = entry.best, entry.best_step
        else:
            value, value_step = entry.scored, entry.scored_step
        if value_step is not None:
            user_attrs[attrs.BEST_STEP] = value_step
        if entry.stop is not None and state_name == "PRUNED":
            user_attrs[attrs.STOP] = entry.stop
        if entry.fail is not None:
            user_attrs[attrs.FAIL_REASON] = entry.fail[-4000:]
        infeasible = entry.infeasible is not None and state_name == "PRUNED"
        if infeasible:
            user_attrs[attrs.FAIL_REASON] = str(entry.infeasible)[-4000:]
            user_attrs[attrs.INFEASIBLE] = True
        if entry.retries:
            user_attrs[attrs.RETRIES] = [dict(item) for item in entry.retries]
        study = self.study

        def write() -> None:
            from optuna.trial import TrialState

            for key, item in user_attrs.items():
                trial.set_user_attr(key, item)
            if infeasible:
                trial.set_constraint(INFEASIBLE_CONSTRAINT, 1.0)
            if state_name == "COMPLETE":
                study.tell(trial, value, skip_if_finished=True)
            else:
                state = TrialState.PRUNED if state_name == "PRUNED" else TrialState.FAIL
                study.tell(trial, state=state, skip_if_finished=True)

        # Kept in the recovery file if the store is down past the retry window.
        recovery = end_record(study.study_name, trial.number, state_name,
                              value if state_name == "COMPLETE" else None, user_attrs)
        self._submit(entry, write, recovery)
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


def _process_lock() -> StudyLock:
    from hpo.execution._study_lock import StudyLock

    return StudyLock("", "")  # no storage kind: a lock within this process


def _worker_died(text: str) -> bool:
    """Whether a Ray trial error says its worker process died (rather than raised)."""
    return any(word in text for word in ("ActorDiedError", "RayActorError", "actor died",
                                          "worker died", "unexpectedly"))


def _stamp(trial: optuna.Trial, key: str, value: object) -> Callable[[], None]:
    return lambda: trial.set_user_attr(key, value)
