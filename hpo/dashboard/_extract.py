"""Figure data extracted from a :class:`~hpo.results.StudySnapshot`.

Every panel has a small frozen info object built here from plain trial records,
so tests assert on numbers and the renderers in ``_figures`` never touch the
store. Times are UTC epoch seconds; durations are seconds. What a study and its
trials are in words and counts (summary, stop notes, durations) comes from
:mod:`hpo.results`, which the CLI shares.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hpo.results._state import silent_note
from hpo.results._store import StudySnapshot, TrialRecord
from hpo.results._summary import (
    duration,
    end_time,
    is_better,
    objective_label,
    step_reached,
    stop_head,
    stop_note,
)
from hpo.results._summary import finite as _finite
from hpo.storage import attrs

__all__ = [
    "OBJECTIVE", "Curve", "Curves", "History", "ParamAxis", "ParamData", "Reached",
    "TrialTable", "curves", "history", "metric_names", "needs_metric_scan", "param_data",
    "param_names", "trial_table",
]

OBJECTIVE = "objective"  # curve name of Optuna's intermediate values
_INF = (float("inf"), float("-inf"))  # with v == v (not NaN): the finite test, inlined


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
        vals: list[float | None] = [v if _finite(v) else None for v in rec.values or ()]
        vals += [None] * (n_obj - len(vals))
        rows.append((rec.number, rec.state, *vals[:n_obj], step_reached(rec),
                     duration(rec, now), rec.user_attrs.get(attrs.WORKER),
                     *(rec.params.get(p) for p in params),
                     stop_note(rec) or silent_note(rec, now)))
    return TrialTable(tuple(cols), tuple(params), tuple(rows))


# --- optimisation history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """A trial that ended early (PRUNED, FAIL), at the last value of the objective it reported."""

    number: int
    state: str
    value: float
    step: int | None
    time: float | None  # when it stopped running (see hpo.results.end_time)
    record: TrialRecord = field(repr=False, compare=False)

    @property
    def note(self) -> str:
        """Why it ended early (worded on demand: 10,000 notes cost 0.15 s, and thousands
        of marks are drawn without hover text)."""
        return stop_note(self.record)


@dataclass(frozen=True)
class History:
    """Completed trials' values and the best so far, by trial number and by completion time,
    plus every trial that ended early at the value it reached (``early``)."""

    metric: str
    direction: str
    numbers: tuple[int, ...]
    values: tuple[float, ...]
    best_by_number: tuple[float, ...]
    times: tuple[float, ...]  # completion times, ascending
    time_values: tuple[float, ...]  # values in completion order
    best_by_time: tuple[float, ...]
    early: tuple[Reached, ...] = ()
    unplotted: int = 0  # finished trials with no finite value to place (e.g. failed at once)
    t0: float | None = None  # the study's first trial start (elapsed time counts from it)


def _running_best(values: list[float], direction: str) -> list[float]:
    better = is_better(direction)
    out: list[float] = []
    for v in values:
        out.append(v if not out or better(v, out[-1]) else out[-1])
    return out


def _completed(snap: StudySnapshot, objective: int) -> list[tuple[TrialRecord, float]]:
    """COMPLETE trials with a finite value of objective ``objective``, with that value."""
    out = []
    for r in snap.trials:
        if r.state == "COMPLETE" and r.values and len(r.values) > objective:
            value = r.values[objective]
            if _finite(value):
                out.append((r, value))
    return out


# history() of the last few snapshots: the history panels, the parameter panels and the
# page head all ask for it, and at 10,000 trials each call costs ~0.1 s.
_HISTORY_CACHE: dict[tuple[int, int], tuple[tuple[Any, ...], History]] = {}


def history(snap: StudySnapshot, objective: int = 0) -> History:
    """Optimisation history of objective ``objective``."""
    key = (id(snap.trials), objective)
    hit = _HISTORY_CACHE.get(key)
    if hit is not None and hit[0] is snap.trials:
        return hit[1]
    out = _history(snap, objective)
    with _NAMES_LOCK:
        if len(_HISTORY_CACHE) >= 8:
            _HISTORY_CACHE.pop(next(iter(_HISTORY_CACHE)))
        _HISTORY_CACHE[key] = (snap.trials, out)
    return out


def _history(snap: StudySnapshot, objective: int) -> History:
    direction = snap.meta.directions[objective] if snap.meta.directions else "minimize"
    done = _completed(snap, objective)
    values = [v for _, v in done]
    timed = sorted((r.complete, v) for r, v in done if r.complete is not None)
    multi = len(snap.meta.directions) > 1
    early, unplotted = _ended_early(snap, objective, multi)
    return History(
        metric=f"objective {objective}" if multi else objective_label(snap),
        direction=direction, numbers=tuple(r.number for r, _ in done), values=tuple(values),
        best_by_number=tuple(_running_best(values, direction)),
        times=tuple(t for t, _ in timed), time_values=tuple(v for _, v in timed),
        best_by_time=tuple(_running_best([v for _, v in timed], direction)),
        early=early, unplotted=unplotted,
        t0=min((r.start for r in snap.trials if r.start is not None), default=None))


def _ended_early(snap: StudySnapshot, objective: int, multi: bool
                 ) -> tuple[tuple[Reached, ...], int]:
    """PRUNED and FAIL trials at the value they reached: their stored value, else their last
    finite report (single objective only; several objectives report no intermediate values).
    Also how many finished trials have no value to place (COMPLETE with a bad value included)."""
    out = []
    missing = 0
    now = time.time()
    for r in snap.trials:
        if r.state not in ("PRUNED", "FAIL", "COMPLETE"):
            continue
        stored = r.values[objective] if r.values and len(r.values) > objective else None
        if r.state == "COMPLETE":
            missing += not _finite(stored)
            continue
        value, step = (stored, step_reached(r)) if _finite(stored) else (None, None)
        if value is None and not multi and r.intermediate:
            step = max(r.intermediate)  # the last report, usually finite
            value = r.intermediate[step]
            if not _finite(value):
                reports = [(s, v) for s, v in r.intermediate.items() if _finite(v)]
                step, value = max(reports) if reports else (None, None)
        if value is None:
            missing += 1
            continue
        out.append(Reached(r.number, r.state, float(value), step, end_time(r, now), r))
    return tuple(out), missing


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
    record: TrialRecord = field(repr=False, compare=False)

    @property
    def note(self) -> str:
        """Why the trial ended early, worded on demand (see :attr:`Reached.note`)."""
        return stop_note(self.record)

    @property
    def head(self) -> str:
        """The start of :attr:`note` (who stopped it, where), without wording the rest."""
        return stop_head(self.record)


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
            pts = [(s, v) for s, v in rec.intermediate.items() if v == v and v not in _INF]
            pts.sort()  # usually in step order already: a linear pass in C
        else:
            pts = [(s, m[metric]) for s, m in attrs.metrics_history(rec.user_attrs)
                   if _finite(m.get(metric))]
        if pts:
            out.append(Curve(rec.number, rec.state, tuple(s for s, _ in pts),
                             tuple(v for _, v in pts), rec))
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


def param_names(snap: StudySnapshot, objective: int = 0) -> list[str]:
    """The parameters :func:`param_data` has axes for, without building the axes."""
    return sorted({p for r, _ in _completed(snap, objective) for p in r.params})


def param_data(snap: StudySnapshot, objective: int = 0) -> ParamData:
    """Parameters of completed trials with a finite objective value."""
    from optuna.distributions import CategoricalDistribution

    pairs = _completed(snap, objective)
    done = [r for r, _ in pairs]
    names = sorted({p for r in done for p in r.params})
    axes = []
    for name in names:
        dist = next(r.distributions[name] for r in done if name in r.distributions)
        vals: tuple[float | None, ...]
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
                     tuple(r.number for r in done), tuple(v for _, v in pairs), tuple(axes))
