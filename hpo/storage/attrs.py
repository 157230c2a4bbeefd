"""Names of the attributes hpo stores on Optuna studies and trials.

Everything hpo knows beyond Optuna's own columns lives in ``user_attrs`` under
these keys, so any Optuna tool (``optuna.load_study``, optuna-dashboard) can open
an hpo study and hpo's own readers (CLI, dashboards) agree on one contract.

Study attributes:
    SPACE_TEXT: the search-space file's text, as given.
    SPACE_PATH: the path it was read from.
    FINGERPRINT: hash of what makes two searches "the same experiment"
        (parameters, objective metric and direction, trainable, model, data).
    METRIC, DIRECTION: the objective, e.g. ``"accuracy"``, ``"maximize"``.
    MODEL, DATA: identity dictionaries of the model and the data set.
    VERSIONS: package versions of the run that created the study.
    SETTINGS: sampler, scheduler and budget settings of the search.
    IDENTITY: the parts the fingerprint hashes, kept to explain a mismatch.
    METRIC_NAMES: sorted names of every finite numeric metric any trial reported,
        so a reader can offer the metrics without reading every trial's history.
    TEST: the best trial's config retrained (same seed, up to its best step) and
        scored once on the held-out test split: ``{"trial", "step", "seed",
        "threads", "metrics", "seconds"}`` (``threads``: the retrain's, every CPU the
        driver may use unless the config fixes ``threads``). The test split is never
        seen during the search.
    SEED: the study's base seed; each run samples with a seed derived from it.
    RUNS: one record per ``hpo run`` on the study (``run``, ``seed``, ``driver``,
        ``started``, ``placement``: the ``concurrency``, ``cpus`` per trial and the
        ``reason`` for them), appended under the study lock, so no two runs share a seed; a
        run that returns adds ``end`` (``completed``, ``time_budget``, ``interrupted``
        or ``error``), ``note`` and ``ended`` (a run without them died first).
    RUNGS: the ASHA/hyperband rung check (``hpo.execution._rung_check``): ``threshold``,
        ``min_pairs``, ``rungs`` (the milestone steps below ``max_t``), ``max_t``,
        ``first_rung`` (where early stops start now), ``checked`` (the latest check:
        ``at``, ``finished`` trials, and per rung ``rung``, ``against`` (the later step
        compared with), ``pairs``, ``rho`` (Spearman) and ``verdict``) and ``moves``
        (each move of the first rung: ``from``, ``to``, ``at``, ``finished`` and the
        ``fits`` of the rungs it moved past).
    WIDENED: how ``hpo run --widen`` made this study (``hpo.shipping.widen``): ``from``
        (the study it continues), ``trial`` (that study's best trial, at the edges),
        ``ranges`` (per widened parameter ``before`` and ``after``, ``[low, high]``),
        ``left`` (parameters at an edge kept as they were, with the reason), ``carried``
        and ``left_out`` (finished trials added from there, and those that did not fit).

Trial attributes:
    STEP: last step (``training_iteration``) the trial reported.
    BEST_STEP: step whose score became the trial's value.
    VALUE_MODE: ``"best"`` or ``"last"``.
    STOP: why a trial was stopped early, a dict with keys ``by`` (scheduler
        name or ``"budget"``), ``rung`` (step of the decision), ``score`` (the
        trial's score there), ``cutoff`` (the score it needed) and ``reason``
        (a sentence).
    FAIL_REASON: why a trial failed (error text or a bad-value description).
    WORKER: ``host:pid`` of the process that ran the trial.
    NODE: the Ray node id the trial ran on.
    HARDWARE: what a built-in trainable's trial ran on: ``device`` (``cpu`` or
        ``cuda:N``), ``cpu_count``, and on a GPU its ``gpu`` name and ``gpu_memory_bytes``.
    DRIVER: ``host:pid:token`` of the driver that runs the trial.
    HEARTBEAT: wall-clock seconds of the driver's latest sign of life for the trial.
    STALE_AFTER: silence (seconds) after which another driver may fail the trial.
    ORPHANED: True on a trial failed because its driver stopped beating; such a
        trial does not count toward the trial budget.
    RETRIES: one record per failed attempt of a retried trial (``attempt``, ``step``
        reached, ``error``, ``at``, ``resumes_from``: the checkpoint step the next
        attempt started from, 0 for none).
    INFEASIBLE: True on a trial whose config cannot run (out of memory); stored
        PRUNED with ``FAIL_REASON`` and a violated Optuna constraint.
    CARRIED: ``{"study", "trial"}`` on a trial ``hpo run --widen`` added as it finished in
        that study; it was not run in this one and does not count toward its budget.
    METRICS_PREFIX: ``f"{METRICS_PREFIX}{step:06d}"`` holds every numeric metric
        the trial reported at that step (objective, losses, accuracies, time).
"""

from __future__ import annotations

SPACE_TEXT = "hpo:space_text"
SPACE_PATH = "hpo:space_path"
FINGERPRINT = "hpo:fingerprint"
METRIC = "hpo:metric"
DIRECTION = "hpo:direction"
MODEL = "hpo:model"
DATA = "hpo:data"
VERSIONS = "hpo:versions"
SETTINGS = "hpo:settings"
IDENTITY = "hpo:identity"
TEST = "hpo:test"
METRIC_NAMES = "hpo:metric_names"
SEED = "hpo:seed"
RUNS = "hpo:runs"
RUNGS = "hpo:rungs"
WIDENED = "hpo:widened"

STEP = "hpo:step"
BEST_STEP = "hpo:best_step"
VALUE_MODE = "hpo:value_mode"
STOP = "hpo:stop"
FAIL_REASON = "hpo:fail_reason"
WORKER = "hpo:worker"
NODE = "hpo:node"
HARDWARE = "hpo:hardware"
DRIVER = "hpo:driver"
HEARTBEAT = "hpo:heartbeat"
STALE_AFTER = "hpo:stale_after"
ORPHANED = "hpo:orphaned"
RETRIES = "hpo:retries"
INFEASIBLE = "hpo:infeasible"
CARRIED = "hpo:carried"
METRICS_PREFIX = "hpo:metrics:"


def metrics_key(step: int) -> str:
    """Key of the metrics reported at ``step``."""
    return f"{METRICS_PREFIX}{step:06d}"


def metrics_history(user_attrs: dict[str, object]) -> list[tuple[int, dict[str, float]]]:
    """Every ``(step, metrics)`` pair stored on a trial, in step order."""
    out = []
    for key, value in user_attrs.items():
        if key.startswith(METRICS_PREFIX) and isinstance(value, dict):
            out.append((int(key[len(METRICS_PREFIX):]), value))
    out.sort(key=lambda kv: kv[0])
    return out
