"""Figure data extracted from a :class:`~hpo.dashboard._store.StudySnapshot`.

Every panel has a small frozen info object built here from plain trial records,
so tests assert on numbers and the renderers in ``_figures`` never touch the
store. Times are UTC epoch seconds; durations are seconds.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from hpo.dashboard._store import StudySnapshot, TrialRecord
from hpo.storage import attrs

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
OBJECTIVE = "objective"  # curve name of Optuna's intermediate values


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def duration(rec: TrialRecord, now: float) -> float | None:
    """Wall seconds a trial ran (still running: until ``now``)."""
    if rec.start is None:
        return None
    end = rec.complete if rec.complete is not None else (now if rec.state == "RUNNING" else None)
    return None if end is None else max(0.0, end - rec.start)


def step_reached(rec: TrialRecord) -> int | None:
    """hpo's recorded step, else the last intermediate step, else None."""
    step = rec.user_attrs.get(attrs.STEP)
    if isinstance(step, int):
        return step
    return max(rec.intermediate) if rec.intermediate else None


def stop_note(rec: TrialRecord) -> str:
    """One line saying why a trial ended early (pruned or failed), or ``""``."""
    if rec.state == "FAIL":
        return f"failed: {rec.user_attrs.get(attrs.FAIL_REASON) or 'no reason recorded'}"
    stop = rec.user_attrs.get(attrs.STOP)
    if rec.state != "PRUNED" and not stop:
        return ""
    if not isinstance(stop, dict):
        return "stopped early (no explanation recorded)"
    parts = [f"stopped by {stop.get('by', '?')}"]
    if stop.get("rung") is not None:
        parts.append(f"at step {stop['rung']}")
    if _finite(stop.get("score")) and _finite(stop.get("cutoff")):
        parts.append(f"(score {stop['score']:.4g}, cutoff {stop['cutoff']:.4g})")
    text = " ".join(parts)
    return f"{text}: {stop['reason']}" if stop.get("reason") else text


def objective_label(snap: StudySnapshot) -> str:
    """The objective's name (hpo's metric attribute), e.g. ``"accuracy"``."""
    metric = snap.meta.user_attrs.get(attrs.METRIC)
    if isinstance(metric, (list, tuple)):  # one name per objective
        return ", ".join(str(m) for m in metric)
    return str(metric) if metric else "objective"


def is_better(direction: str) -> Any:
    """``better(a, b)``: whether value ``a`` beats ``b`` under ``direction``."""
    return (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)


# --- studies list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StudySummary:
    """One row of the studies list."""

    name: str
    state: str  # "running", "finished" or "empty"
    counts: dict[str, int]
    n_trials: int
    best: float | None
    metric: str
    directions: tuple[str, ...]
    started: float | None
    duration_s: float
    compute_s: float  # trial-seconds: every trial's wall time added up
    model: str
    data: str


def _identity(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("name", "id", "path", "model", "dataset"):
            if value.get(key):
                return str(value[key])
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else str(value)


def summarize(snap: StudySnapshot, now: float | None = None) -> StudySummary:
    """Counts by state, best value, duration and compute of a study."""
    now = time.time() if now is None else now
    counts = {s: 0 for s in STATES}
    best = None
    direction = snap.meta.directions[0] if snap.meta.directions else "minimize"
    better = is_better(direction)
    starts, ends, compute = [], [], 0.0
    for rec in snap.trials:
        counts[rec.state] = counts.get(rec.state, 0) + 1
        if rec.state == "COMPLETE" and rec.values and _finite(rec.values[0]):
            if best is None or better(rec.values[0], best):
                best = rec.values[0]
        d = duration(rec, now)
        if d is not None:
            compute += d
            starts.append(rec.start)
            ends.append(rec.start + d)
    state = "empty" if not snap.trials else ("running" if counts["RUNNING"] else "finished")
    return StudySummary(
        name=snap.meta.name, state=state, counts=counts, n_trials=len(snap.trials),
        best=best if len(snap.meta.directions) == 1 else None, metric=objective_label(snap),
        directions=snap.meta.directions, started=min(starts) if starts else None,
        duration_s=(max(ends) - min(starts)) if starts else 0.0, compute_s=compute,
        model=_identity(snap.meta.user_attrs.get(attrs.MODEL)),
        data=_identity(snap.meta.user_attrs.get(attrs.DATA)))


# --- trial table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialTable:
    """Column-wise trial table: ``columns`` names, ``rows`` lists in that order."""

    columns: tuple[str, ...]
    param_names: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def trial_table(snap: StudySnapshot, now: float | None = None) -> TrialTable:
    """Number, state, value(s), step reached, duration, worker, params and note per trial."""
    now = time.time() if now is None else now
    params = sorted({p for rec in snap.trials for p in rec.params})
    n_obj = max(1, len(snap.meta.directions))
    value_cols = ["value"] if n_obj == 1 else [f"value {i}" for i in range(n_obj)]
    cols = ["number", "state", *value_cols, "step", "duration_s", "worker", *params, "note"]
    rows = []
    for rec in snap.trials:
        vals = list(rec.values) if rec.values else [None] * n_obj
        vals = [v if _finite(v) else None for v in vals] + [None] * (n_obj - len(vals))
        rows.append((rec.number, rec.state, *vals[:n_obj], step_reached(rec),
                     duration(rec, now), rec.user_attrs.get(attrs.WORKER),
                     *(rec.params.get(p) for p in params), stop_note(rec)))
    return TrialTable(tuple(cols), tuple(params), tuple(rows))


# --- optimisation history ---------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """Completed trials' values and the best so far, by trial number and by completion time."""

    metric: str
    direction: str
    numbers: tuple[int, ...]
    values: tuple[float, ...]
    best_by_number: tuple[float, ...]
    times: tuple[float, ...]  # completion times, ascending
    time_values: tuple[float, ...]  # values in completion order
    best_by_time: tuple[float, ...]


def _running_best(values: list[float], direction: str) -> list[float]:
    better = is_better(direction)
    out: list[float] = []
    for v in values:
        out.append(v if not out or better(v, out[-1]) else out[-1])
    return out


def history(snap: StudySnapshot, objective: int = 0) -> History:
    """Optimisation history of objective ``objective``."""
    direction = snap.meta.directions[objective] if snap.meta.directions else "minimize"
    done = [r for r in snap.trials if r.state == "COMPLETE" and r.values
            and len(r.values) > objective and _finite(r.values[objective])]
    values = [r.values[objective] for r in done]
    timed = sorted((r.complete, r.values[objective]) for r in done if r.complete is not None)
    multi = len(snap.meta.directions) > 1
    return History(
        metric=f"objective {objective}" if multi else objective_label(snap),
        direction=direction, numbers=tuple(r.number for r in done), values=tuple(values),
        best_by_number=tuple(_running_best(values, direction)),
        times=tuple(t for t, _ in timed), time_values=tuple(v for _, v in timed),
        best_by_time=tuple(_running_best([v for _, v in timed], direction)))


# --- learning curves --------------------------------------------------------------------------


# metric_names of the last few trial tuples (a snapshot's trials are one tuple object per
# study revision); the trials are kept alongside so their id() stays theirs.
_NAMES_CACHE: dict[int, tuple[tuple[Any, ...], list[str]]] = {}
_NAMES_LOCK = threading.Lock()


def metric_names(snap: StudySnapshot) -> list[str]:
    """Curves a study offers: ``"objective"`` first, then every metric any trial reported.

    hpo keeps the names as a study attribute; a study without it (or a snapshot that
    holds the metric histories) is read trial by trial.
    """
    stored = snap.meta.user_attrs.get(attrs.METRIC_NAMES)
    names = {str(n) for n in stored} if isinstance(stored, list) else set()
    if snap.has_metrics:
        names |= set(_scanned_names(snap))
    return [OBJECTIVE, *sorted(names)]


def needs_metric_scan(snap: StudySnapshot) -> bool:
    """Whether :func:`metric_names` needs the trials' metric histories for this study."""
    return not isinstance(snap.meta.user_attrs.get(attrs.METRIC_NAMES), list)


def _scanned_names(snap: StudySnapshot) -> list[str]:
    hit = _NAMES_CACHE.get(id(snap.trials))
    if hit is not None and hit[0] is snap.trials:
        return list(hit[1])
    names: set[str] = set()
    prefix = attrs.METRICS_PREFIX
    for rec in snap.trials:
        for key, metrics in rec.user_attrs.items():
            # Most steps report metrics already known: skip them without a look at values.
            if isinstance(metrics, dict) and key.startswith(prefix) \
                    and not names.issuperset(metrics):
                names.update(k for k, v in metrics.items() if _finite(v))
    out = sorted(names)
    with _NAMES_LOCK:
        if len(_NAMES_CACHE) >= 8:
            _NAMES_CACHE.pop(next(iter(_NAMES_CACHE)))
        _NAMES_CACHE[id(snap.trials)] = (snap.trials, out)
    return list(out)


@dataclass(frozen=True)
class Curve:
    """One trial's curve; ``note`` says why it ended early, if it did."""

    number: int
    state: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    note: str


@dataclass(frozen=True)
class Curves:
    """Learning curves of every trial for one metric."""

    metric: str
    label: str
    metrics: tuple[str, ...]  # every metric the study offers
    curves: tuple[Curve, ...]


def curves(snap: StudySnapshot, metric: str = OBJECTIVE) -> Curves:
    """Per-trial curves of ``metric`` (``"objective"``: Optuna's intermediate values).

    Raises:
        KeyError: the study has no metric of that name.
        ValueError: a metric other than the objective from a snapshot without histories.
    """
    if metric != OBJECTIVE and not snap.has_metrics:
        raise ValueError("curves of a reported metric need a snapshot taken with metrics=True")
    names = metric_names(snap)
    if metric not in names:
        raise KeyError(f"metric {metric!r} not reported in study {snap.meta.name!r}; "
                       f"choose one of {names}")
    out = []
    for rec in snap.trials:
        if metric == OBJECTIVE:
            pts = sorted((s, v) for s, v in rec.intermediate.items() if _finite(v))
        else:
            pts = [(s, m[metric]) for s, m in attrs.metrics_history(rec.user_attrs)
                   if _finite(m.get(metric))]
        if pts:
            out.append(Curve(rec.number, rec.state, tuple(s for s, _ in pts),
                             tuple(v for _, v in pts), stop_note(rec)))
    label = f"objective ({objective_label(snap)})" if metric == OBJECTIVE else metric
    return Curves(metric, label, tuple(names), tuple(out))


# --- parameters: parallel coordinates, slices, contour ----------------------------------------


@dataclass(frozen=True)
class ParamAxis:
    """One parameter's values over the completed trials (categorical: index into ``choices``)."""

    name: str
    values: tuple[float | None, ...]
    choices: tuple[str, ...] | None
    log: bool


@dataclass(frozen=True)
class ParamData:
    """Completed trials' parameters and objective, the input of parallel/slice/contour plots."""

    metric: str
    direction: str
    numbers: tuple[int, ...]
    objective: tuple[float, ...]
    axes: tuple[ParamAxis, ...]


def param_data(snap: StudySnapshot, objective: int = 0) -> ParamData:
    """Parameters of completed trials with a finite objective value."""
    from optuna.distributions import CategoricalDistribution

    done = [r for r in snap.trials if r.state == "COMPLETE" and r.values
            and len(r.values) > objective and _finite(r.values[objective])]
    names = sorted({p for r in done for p in r.params})
    axes = []
    for name in names:
        dist = next(r.distributions[name] for r in done if name in r.distributions)
        if isinstance(dist, CategoricalDistribution):
            choices = tuple(str(c) for c in dist.choices)
            index = {str(c): i for i, c in enumerate(dist.choices)}
            vals = tuple(index.get(str(r.params[name])) if name in r.params else None
                         for r in done)
            axes.append(ParamAxis(name, vals, choices, False))
        else:
            vals = tuple(float(r.params[name]) if name in r.params else None for r in done)
            axes.append(ParamAxis(name, vals, None, bool(getattr(dist, "log", False))))
    return ParamData(history(snap, objective).metric,
                     snap.meta.directions[objective] if snap.meta.directions else "minimize",
                     tuple(r.number for r in done),
                     tuple(r.values[objective] for r in done), tuple(axes))
