"""Comparison of several studies: progress against time, compute and trials, learning
curves per step, best configs side by side."""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from hpo.dashboard._extract import OBJECTIVE, curves, history
from hpo.dashboard._timeline import compute_at
from hpo.results import StudySnapshot, best_trial, summarize
from hpo.results._summary import end_time
from hpo.results._summary import identity as _identity
from hpo.storage import attrs


@dataclass(frozen=True)
class Progress:
    """Best so far of one study at each completion, against elapsed seconds, compute
    (trial-seconds) and the number of trials finished by then."""

    name: str
    metric: str
    direction: str
    elapsed_s: tuple[float, ...]
    compute_s: tuple[float, ...]
    trials: tuple[int, ...]  # finished trials (any state) by each completion
    best: tuple[float, ...]


def progress(snap: StudySnapshot, now: float | None = None) -> Progress:
    """Best-so-far curve of ``snap`` measured from its first trial's start."""
    now = time.time() if now is None else now
    h = history(snap)
    t0 = min((r.start for r in snap.trials if r.start is not None), default=0.0)
    compute = compute_at(snap, list(h.times), now)
    ended = sorted(e for r in snap.trials if r.state in ("COMPLETE", "PRUNED", "FAIL")
                   and (e := end_time(r, now)) is not None)
    return Progress(snap.meta.name, h.metric, h.direction,
                    tuple(t - t0 for t in h.times), tuple(compute),
                    tuple(bisect_right(ended, t) for t in h.times), h.best_by_time)


@dataclass(frozen=True)
class StepBand:
    """One study's curves of one metric summarised per step: median, the middle half
    (25th to 75th percentile) and how many trials reported there, plus the best trial's
    own curve. Later steps hold only the trials not stopped before them."""

    name: str
    metric: str
    steps: tuple[int, ...]
    median: tuple[float, ...]
    q25: tuple[float, ...]
    q75: tuple[float, ...]
    count: tuple[int, ...]
    best_number: int | None
    best_steps: tuple[int, ...]
    best_values: tuple[float, ...]


def step_bands(snap: StudySnapshot, metric: str = OBJECTIVE) -> StepBand:
    """:class:`StepBand` of ``metric`` over every trial of ``snap`` that reported it.

    Raises:
        KeyError: the study has no metric of that name.
    """
    import numpy as np

    c = curves(snap, metric)
    by_step: dict[int, list[float]] = {}
    for cv in c.curves:
        for step, value in zip(cv.steps, cv.values, strict=True):
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    qs = [np.percentile(by_step[s], [25, 50, 75]) for s in steps]
    best = best_trial(snap)
    mine = next((cv for cv in c.curves if best is not None and cv.number == best.number), None)
    return StepBand(snap.meta.name, c.label, tuple(steps), tuple(float(q[1]) for q in qs),
                    tuple(float(q[0]) for q in qs), tuple(float(q[2]) for q in qs),
                    tuple(len(by_step[s]) for s in steps), best.number if best else None,
                    mine.steps if mine else (), mine.values if mine else ())


@dataclass(frozen=True)
class ConfigRow:
    """One row of the side-by-side table; ``differs`` when the studies disagree."""

    label: str
    values: tuple[Any, ...]
    differs: bool
    kind: str  # "study" (identity, objective) or "param"


@dataclass(frozen=True)
class BestConfigs:
    """Each study's best trial side by side."""

    studies: tuple[str, ...]
    rows: tuple[ConfigRow, ...]


def _same(values: list[Any]) -> bool:
    def norm(v: Any) -> Any:
        return round(v, 12) if isinstance(v, float) else v

    return len({repr(norm(v)) for v in values}) <= 1


def best_configs(snaps: list[StudySnapshot]) -> BestConfigs:
    """Best trial of each study with its parameters; rows where studies differ are flagged."""
    bests = [best_trial(s) for s in snaps]
    sums = [summarize(s) for s in snaps]
    rows: list[ConfigRow] = []

    def add(label: str, values: list[Any], kind: str) -> None:
        rows.append(ConfigRow(label, tuple(values), not _same(values), kind))

    add("metric", [s.metric for s in sums], "study")
    add("direction", [", ".join(s.directions) for s in sums], "study")
    add("model", [_identity(s.meta.user_attrs.get(attrs.MODEL)) for s in snaps], "study")
    add("data", [_identity(s.meta.user_attrs.get(attrs.DATA)) for s in snaps], "study")
    add("trials", [s.n_trials for s in sums], "study")
    add("best value", [s.best for s in sums], "study")
    add("best trial", [b.number if b else None for b in bests], "study")
    params = sorted({p for b in bests if b for p in b.params})
    for p in params:
        add(p, [b.params.get(p) if b else None for b in bests], "param")
    return BestConfigs(tuple(s.meta.name for s in snaps), tuple(rows))
