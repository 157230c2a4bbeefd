"""``run_search``: one search from a validated spec to a finished, truthful study."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.execution._clock import working_time
from hpo.execution._liveness import DEFAULT_STALE_AFTER_S
from hpo.execution._placement import (
    Capacity,
    Placement,
    choose_placement,
    cluster_capacity,
    machine_capacity,
)
from hpo.execution._stop_signals import SearchInterrupted, StopSignals
from hpo.execution._test_score import score_best
from hpo.spaces import SearchSpec, define_by_run
from hpo.storage import open_storage, open_study, resolve_url
from hpo.trainables import resolve_trainable, unknown_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    """What one ``run_search`` call did."""

    study_name: str
    storage_url: str
    started: int
    complete: int
    pruned: int
    failed: int
    elapsed_s: float
    best_value: float | None
    best_params: dict[str, Any] | None
    stopped_by_budget: bool
    test: dict[str, Any] | None = None
    run_index: int | None = None
    run_seed: int | None = None


def study_name_for(spec: SearchSpec, name: str | None) -> str:
    return name or spec.name or Path(spec.source).stem


def run_search(
    spec: SearchSpec,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    trials: int | None = None,
    concurrency: int | None = None,
    time_budget: float | None = None,
    overwrite: bool = False,
    seed: int | None = None,
    progress: bool = True,
    ray_address: str | None = None,
    keep_ray_output: bool = False,
    score_test: bool = True,
    stale_after: float = DEFAULT_STALE_AFTER_S,
    max_retries: int | None = None,
) -> SearchResult:
    """Run (or continue) the search ``spec`` describes until its budget is used.

    Args:
        spec: a validated search space (see :func:`hpo.spaces.load_space`).
        study_name: the Optuna study; defaults to the space's ``name`` or file stem.
        storage: storage URL; defaults to SQLite in ``./hpo-results``.
        trials: total trials in the study, finished ones from earlier runs included.
        concurrency: trials run at once (default: the space's, else chosen from the
            CPUs, see :mod:`hpo.execution._placement`).
        time_budget: wall-clock seconds for this call; running trials are stopped
            and recorded PRUNED at the step they reached when it is spent.
        overwrite: replace an existing study made from a different experiment.
        seed: the study's base seed; this run samples with a seed derived from it and
            the run's number on the study, so no two runs propose the same configs.
        progress: draw the live progress line on stderr.
        ray_address: join this Ray cluster instead of starting Ray here.
        keep_ray_output: keep Ray's own result files and show worker logs.
        score_test: when the trainable can (the built-in ones), retrain the best
            trial's config with its seed up to its best step and score it once on
            the held-out test split; stored as the study attribute ``hpo:test``.
        stale_after: seconds without a heartbeat after which another driver on the
            study may fail this driver's trials (and this one fails theirs).
        max_retries: times a failed trial is run again with the same parameters,
            resuming from its last checkpoint (default: the space's ``max_retries``).

    Raises:
        StudyMismatch: resuming with a different space, metric or direction.
        SearchInterrupted: SIGINT or SIGTERM arrived; the trials are closed first.
        ValueError: unknown trainable, sampler or scheduler, or bad options.
        FileNotFoundError: the trainable's model or data is not installed.
    """
    t0 = time.time()
    trials = trials or spec.budget.trials
    time_budget = time_budget if time_budget is not None else spec.budget.time_s
    name = study_name_for(spec, study_name)
    if max_retries is not None and max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
    retries = spec.max_retries if max_retries is None else max_retries
    url = resolve_url(storage)

    # Everything that can be rejected is checked before the store is touched.
    trainable = resolve_trainable(spec.trainable)
    unknown = unknown_settings(spec, trainable)
    if unknown:
        raise ValueError("; ".join(unknown))

    from hpo.execution._ray_init import ensure_ray, quiet_environment, ray_is_up, ray_target

    quiet_environment()
    # Trials at once and CPUs per trial follow from the CPUs of wherever the trials run:
    # known now for a Ray hpo starts here (or one already up), once joined for a cluster.
    placing: Future[Placement] = Future()

    def place(capacity: Capacity) -> None:
        placing.set_result(choose_placement(capacity, spec.concurrency, spec.resources.cpu,
                                            spec.resources.gpu, concurrency))

    if ray_is_up():
        place(cluster_capacity())
    elif ray_target(ray_address) is None:
        place(machine_capacity())
    started_ray = False
    display = None
    ledger = None
    by_budget = False
    ray_dir = tempfile.mkdtemp(prefix="hpo-ray-")

    def prepare() -> tuple[Any, Any, Any, Placement]:
        # Runs while Ray starts (its start-up is mostly waiting on its processes):
        # import Optuna and Ray Tune, check the sampler's and scheduler's options,
        # describe the model and data, and open the study, refusing a changed
        # experiment. Nothing is written to the store before these checks pass.
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from hpo.execution._component_check import component_problems
        from hpo.execution._ledger import Ledger
        from hpo.execution._runs import register_run
        from hpo.execution._samplers import make_sampler
        from hpo.execution._schedulers import make_scheduler
        from hpo.execution._study_lock import StudyLock

        # Options are checked here, before the store is touched; the seeded sampler that
        # runs is made once this run's number on the study is known.
        problems = component_problems(spec)
        if problems:
            raise ValueError("; ".join(problems))
        from hpo.trainables._base import describe_of

        describe = describe_of(trainable)
        details = describe(spec.model, spec.data) if describe is not None else None
        store = open_storage(url)
        study = open_study(spec, name, store, overwrite=overwrite, identity_details=details)
        lock = StudyLock(url, name)
        base = seed if seed is not None else spec.sampler.options.get("seed")
        placement = placing.result()  # set by the main thread once Ray is up
        placed = placement.apply(spec)
        run = register_run(study, lock, None if base is None else int(base),
                           placement=placement.record())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            study.sampler = make_sampler(spec.sampler, run.seed)
        deadline = None if time_budget is None else t0 + working_time(time_budget)
        ledger = Ledger(study, placed, define_by_run(spec), trials, deadline, storage=store,
                        lock=lock, driver=run.driver, stale_after=stale_after,
                        max_retries=retries)
        scheduler = make_scheduler(spec.scheduler, placed, spec.budget.max_steps, ledger)
        return scheduler, ledger, run, placement

    run = None
    heartbeat = None
    with StopSignals() as signals:
        try:
            preparing = _Background(prepare)
            try:
                started_ray = ensure_ray(ray_address, show_worker_logs=keep_ray_output)
                signals.install()  # again: Ray's start-up puts its own SIGTERM handler in
                if not placing.done():  # joined a cluster: its CPUs decide
                    place(cluster_capacity())
            finally:
                if not placing.done():  # Ray did not come up: no trial runs, the run
                    place(machine_capacity())  # record still gets its end
                # Even when Ray fails to start, wait for the study to be opened (or
                # refused) so nothing is left writing behind the error.
                scheduler, ledger, run, placement = preparing.result()
            signals.ledger = ledger
            from hpo.execution._liveness import Heartbeat, beat_interval

            heartbeat = Heartbeat(ledger.beat, beat_interval(stale_after))
            heartbeat.start()
            if ledger.to_start > 0 and not ledger.should_end():
                if progress:
                    print(f"placement: {placement.describe()}", file=sys.stderr, flush=True)
                    from hpo.execution._progress_line import ProgressLine

                    display = ProgressLine(ledger, placement.concurrency, time_budget)
                    display.start()
                # The ledger holds the spec with the placement written in (see prepare).
                _fit(ledger.spec, trainable, ledger, scheduler, placement.concurrency, ray_dir)
        finally:
            try:
                if ledger is not None:
                    by_budget = ledger.interrupted is None and ledger.deadline_passed()
                    if by_budget:
                        by, why = "budget", f"time budget of {time_budget:g} s reached"
                    elif ledger.interrupted is not None:
                        by = "interrupted"
                        why = f"the search was interrupted by {ledger.interrupted}"
                    else:
                        by, why = "interrupted", "the search was interrupted"
                    ledger.close_all(by, why)
                    ledger.close()
                    _record_end(ledger, run, by_budget, why)
            finally:
                if heartbeat is not None:
                    heartbeat.stop()
                if ledger is not None:
                    ledger.lock.close()
                if display is not None:
                    display.stop()
                if not keep_ray_output:
                    shutil.rmtree(ray_dir, ignore_errors=True)
                if started_ray:
                    from hpo.execution._ray_init import stop_ray

                    stop_ray()
    if signals.received is not None:
        raise SearchInterrupted(signals.received)
    test = None
    # A search stopped on request (a cancel through the service) does not spend a
    # retrain on the test split: whoever cancelled wants the machine back.
    if score_test and ledger is not None and ledger.interrupted is None:
        test = score_best(spec, trainable, ledger.study, progress)
    best_value = best_params = None
    try:
        best = ledger.study.best_trial
        best_value, best_params = best.value, best.params
    except ValueError:
        pass
    c = ledger.counts
    return SearchResult(
        study_name=name, storage_url=url, started=ledger.started, complete=c.complete,
        pruned=c.pruned, failed=c.failed, elapsed_s=time.time() - t0,
        best_value=best_value, best_params=best_params, stopped_by_budget=by_budget,
        test=test, run_index=None if run is None else run.index,
        run_seed=None if run is None else run.seed,
    )


class _Background:
    """Runs ``fn`` on a thread; :meth:`result` joins it and returns or re-raises."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hpo-prepare", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _fit(spec: SearchSpec, trainable: Any, ledger: Any, scheduler: Any, concurrency: int,
         ray_dir: str) -> None:
    # Ray Tune ends the whole search when one report lacks the metric its searcher
    # and scheduler were given; hpo's scheduler wrapper fails that trial instead.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    from ray import tune

    from hpo.execution._ray_init import tune_actors_on_started_workers
    from hpo.execution._tune_hooks import DeadlineStopper, LedgerCallback, LedgerSearcher
    from hpo.execution._tune_lookups import memoized_trainable_lookups
    from hpo.trainables._wrap import wrap_for_ray

    mode = "max" if ledger.sign > 0 else "min"
    resources: Any = {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    callbacks: list[Any] = [LedgerCallback(ledger)]
    if spec.resources.gpu > 0:  # each trial asks for the GPU share its memory needs
        from hpo.execution._gpu_packing import peak_observer, sizer_for

        sizer = sizer_for(spec, trainable, ledger.study)
        if sizer is not None:
            resources = sizer
            callbacks.append(peak_observer(sizer))
    tuner = tune.Tuner(
        tune.with_resources(wrap_for_ray(trainable), resources),
        tune_config=tune.TuneConfig(
            search_alg=LedgerSearcher(ledger, ledger.metric, mode),
            scheduler=scheduler,
            # An upper bound (each retry is a Ray trial of its own): the ledger ends
            # the search when the study's budget is used.
            num_samples=max(ledger.total, 1) * (ledger.max_retries + 1),
            max_concurrent_trials=concurrency,
            reuse_actors=True,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name="search",
            storage_path=ray_dir,
            verbose=0,
            callbacks=callbacks,
            stop=DeadlineStopper(ledger),
            failure_config=tune.FailureConfig(max_failures=0),
            # A retry resumes from a trial's latest checkpoint only; older ones would
            # fill the disk with model weights nobody reads.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            log_to_file=False,
        ),
    )
    # Ray's result grid warns that the result files hpo switched off are missing.
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    analysis_log.setLevel(logging.ERROR)
    # No warning filter: a search with the shipped settings emits none (checked with
    # ``python -W default``), so whatever Ray or Optuna says is worth seeing.
    with memoized_trainable_lookups(), tune_actors_on_started_workers():
        tuner.fit()


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _record_end(ledger: Any, run: Any, by_budget: bool, why: str) -> None:
    """Write how this run ended on its ``hpo:runs`` record (readers tell a used budget from
    a spent time budget, an interruption or an error by it). Called in a ``finally``:
    ``sys.exc_info()`` is the exception that is ending the run, if one is."""
    from hpo.execution._runs import end_run

    exc = sys.exc_info()[1]
    if ledger.interrupted is not None or isinstance(exc, (KeyboardInterrupt,
                                                          SearchInterrupted)):
        end, note = "interrupted", why
    elif by_budget:
        end, note = "time_budget", why
    elif exc is not None:
        end, note = "error", f"ended with {type(exc).__name__}: {exc}"
    else:
        end, note = "completed", f"trial budget of {ledger.total} trials used"
    try:
        end_run(ledger.study, ledger.lock, run, end, note)
    except Exception:  # the run's own outcome matters more than this note
        log.warning("could not record how run %s ended", run.index, exc_info=True)
