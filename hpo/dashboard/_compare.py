"""Comparison of several studies: progress against time and compute, best configs side by side."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hpo.dashboard._extract import history
from hpo.dashboard._timeline import compute_at
from hpo.results import StudySnapshot, best_trial, summarize
from hpo.results._summary import identity as _identity
from hpo.storage import attrs


@dataclass(frozen=True)
class Progress:
    """Best so far of one study at each completion, against elapsed and compute hours."""

    name: str
    metric: str
    direction: str
    elapsed_h: tuple[float, ...]
    compute_h: tuple[float, ...]
    best: tuple[float, ...]


def progress(snap: StudySnapshot, now: float | None = None) -> Progress:
    """Best-so-far curve of ``snap`` measured from its first trial's start."""
    now = time.time() if now is None else now
    h = history(snap)
    t0 = min((r.start for r in snap.trials if r.start is not None), default=0.0)
    compute = compute_at(snap, list(h.times), now)
    return Progress(snap.meta.name, h.metric, h.direction,
                    tuple((t - t0) / 3600 for t in h.times), tuple(c / 3600 for c in compute),
                    h.best_by_time)


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
