"""Whether a scheduler's rungs rank trials the way they finish, and where stops may start.

ASHA stops a trial at a rung because its score there ranks low. That is only sound when
the ranking at the rung predicts the final one: on small data many configs sit at the
majority-class rate after the first epoch and recover later, and a warmup-heavy high
learning rate starts slowly. As trials finish, :class:`FirstRung` measures, for every
rung, the Spearman rank correlation between the trials' scores at the rung and their
scores at the end; a rung whose ranking does not predict (below :data:`THRESHOLD` over at
least :data:`MIN_PAIRS` trials) no longer stops trials: the first rung moves later. It
never moves back within a run, so every decision stays explainable.

Which trials are compared: every finished trial with a score at the rung and at a later
step. The later step is the end (``max_t``) once :data:`MIN_PAIRS` of them got there,
else the furthest step that many reached, so a check can act before many trials have
run to the end. The later score must be on the whole validation split: a report before
an epoch's end scores a fixed subset (it feeds a rung only), and when
``budget.max_steps`` ends a trial mid-epoch its furthest step is such a report, so the
furthest whole-split step stands for the end instead. Either way the sample is
truncated: a trial past a rung had survived it, and a ranking measured among survivors
alone correlates less than over every trial. The error this invites is to move the
first rung when it did not need moving, which costs epochs; the one it prevents,
stopping configs that would have won, costs the result.

Spearman's correlation does not depend on the direction (ranking both sides the other
way round leaves it unchanged), so minimised objectives need nothing special. Ties, as at
the majority-class rate, take the average of the ranks they span.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: A rung whose ranking correlates less than this with the final one does not predict it.
THRESHOLD = 0.5
#: Fewer trials than this (scored at the rung and later) judge nothing.
MIN_PAIRS = 5

PREDICTIVE = "predictive"
NOT_PREDICTIVE = "not predictive"
UNDECIDED = "undecided"  # too few trials yet, or no ranking to predict (all ended equal)

History = Sequence[tuple[float, float]]
#: Per trial, the steps whose score is on a subset of the validation split.
Partial = Mapping[str, Collection[float]]


def milestones(grace_period: float, reduction_factor: float, max_t: float) -> tuple[int, ...]:
    """The steps at which ASHA judges trials: ``grace_period * reduction_factor**k`` below
    ``max_t``, over every Hyperband bracket (bracket ``s`` starts at ``k = s``), each
    rounded up to the step that first reaches it (steps count reports one by one)."""
    if grace_period <= 0 or reduction_factor <= 1:
        raise ValueError(f"need grace_period > 0 and reduction_factor > 1, got "
                         f"(grace_period={grace_period!r}, reduction_factor={reduction_factor!r})")
    steps: set[int] = set()
    rung = float(grace_period)
    while rung < max_t:
        steps.add(math.ceil(rung))
        rung *= reduction_factor
    return tuple(sorted(s for s in steps if s < max_t))


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks of ``values``; tied values share the mean of the ranks they span."""
    _, inverse, counts = np.unique(np.asarray(values, dtype=float), return_inverse=True,
                                   return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation of paired samples (average ranks for ties); None when
    either side is constant, where it is not defined."""
    if len(xs) != len(ys):
        raise ValueError(f"paired samples differ in length: {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass(frozen=True)
class RungFit:
    """How well the ranking at one rung predicted the ranking at a later step."""

    rung: int
    against: int | None  # the later step compared with (None: no trial got past the rung)
    pairs: int  # trials scored at both
    rho: float | None  # Spearman's correlation (None: undecided)
    verdict: str  # PREDICTIVE, NOT_PREDICTIVE or UNDECIDED


@dataclass(frozen=True)
class RungCheck:
    """Every rung's fit, and the first rung whose ranking is not known to mislead."""

    fits: tuple[RungFit, ...]
    first_rung: int  # ``max_t`` when no rung predicts: no trial is stopped early


def _by_step(history: History) -> dict[float, float]:
    # A result can be handed over twice at one step (on_trial_complete repeats the last);
    # the first is the one the scheduler judged, as Ray records it.
    out: dict[float, float] = {}
    for step, value in history:
        out.setdefault(step, value)
    return out


def fit_rung(histories: Mapping[str, History], rung: int, max_t: int,
             threshold: float = THRESHOLD, min_pairs: int = MIN_PAIRS,
             partial: Partial | None = None) -> RungFit:
    """The ranking at ``rung`` against the ranking at the furthest step (at most
    ``max_t``) that ``min_pairs`` of the trials scored at ``rung`` reached with a score
    on the whole validation split (``partial`` names each trial's other steps)."""
    partial = partial or {}
    scored = []  # (scores by step, the steps scored on the whole split)
    for tid, history in histories.items():
        by = _by_step(history)
        if rung in by:
            subset = partial.get(tid, ())
            scored.append((by, {s for s in by if s not in subset}))
    furthest = sorted((max(whole) for by, whole in scored
                       if whole and max(whole) > rung), reverse=True)
    if len(furthest) < min_pairs:
        return RungFit(rung, None, len(furthest), None, UNDECIDED)
    against = min(int(furthest[min_pairs - 1]), max_t)
    pairs = [(by[rung], by[against]) for by, whole in scored if against in whole]
    if len(pairs) < min_pairs:
        # A history with a gap (a retried attempt), or trials that scored ``against``
        # on the subset (another evals_per_epoch), can get here.
        return RungFit(rung, against, len(pairs), None, UNDECIDED)
    at_rung, later = [p[0] for p in pairs], [p[1] for p in pairs]
    rho = spearman(at_rung, later)
    if rho is None and len(set(later)) > 1:
        rho = 0.0  # every trial tied at the rung: it ranks nothing
    if rho is None:
        return RungFit(rung, against, len(pairs), None, UNDECIDED)
    return RungFit(rung, against, len(pairs), rho,
                   PREDICTIVE if rho >= threshold else NOT_PREDICTIVE)


def check_rungs(histories: Mapping[str, History], rungs: Sequence[int], max_t: int,
                threshold: float = THRESHOLD, min_pairs: int = MIN_PAIRS,
                partial: Partial | None = None) -> RungCheck:
    """Every rung's fit over the finished trials' ``(step, value)`` histories, and the
    first rung not judged :data:`NOT_PREDICTIVE` (every rung below it is)."""
    fits = tuple(fit_rung(histories, r, max_t, threshold, min_pairs, partial)
                 for r in sorted(rungs))
    first = next((f.rung for f in fits if f.verdict != NOT_PREDICTIVE), max_t)
    return RungCheck(fits, first)


@dataclass
class FirstRung:
    """Where one scheduler's early stops start: its first rung, moved later (never
    earlier) when :func:`check_rungs` finds the rungs below do not predict.

    The scheduler asks :meth:`holds` about every stop it decides below ``max_t`` and
    calls :meth:`finished` when a trial ends; what that returns is the study record to
    store (see ``hpo.storage.attrs.RUNGS``) and the move it made, if any.

    Args:
        rungs: the scheduler's milestones below ``max_t`` (see :func:`milestones`).
        prior: the study's stored record: a later run on the study starts where the
            earlier ones had moved the first rung to.
    """

    rungs: tuple[int, ...]
    max_t: int
    threshold: float = THRESHOLD
    min_pairs: int = MIN_PAIRS
    prior: Mapping[str, Any] | None = None
    step: int = field(init=False)
    moves: list[dict[str, Any]] = field(init=False, default_factory=list)
    histories: dict[str, list[tuple[float, float]]] = field(init=False, default_factory=dict)
    partial: dict[str, frozenset[float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rungs = tuple(sorted(self.rungs))
        self.step = self.rungs[0] if self.rungs else self.max_t
        prior = self.prior or {}
        if isinstance(prior.get("moves"), list):
            self.moves = [dict(m) for m in prior["moves"] if isinstance(m, dict)]
        before = prior.get("first_rung")
        if isinstance(before, int) and before > self.step:
            # This run's rungs may differ from the earlier run's: the first one at or past.
            self.step = next((r for r in self.rungs if r >= before), self.max_t)

    def holds(self, step: float) -> bool:
        """Whether a stop at ``step`` comes before the first rung, so is not made."""
        return step < self.step

    def finished(self, trial_id: str, history: History, now: float,
                 partial: Collection[float] = ()
                 ) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """A trial ended with these ``(step, value)`` results, those at the ``partial``
        steps scored on a validation subset: (the record to store, the move made or
        None); None when the trial adds nothing to judge by (it ended at or before the
        first rung, so no rung from there on gains a pair)."""
        self.histories[trial_id] = list(history)
        if partial:
            self.partial[trial_id] = frozenset(partial)
        if not history or max(step for step, _ in history) <= self.step:
            return None
        check = check_rungs(self.histories, self.rungs, self.max_t,
                            self.threshold, self.min_pairs, self.partial)
        move = None
        if check.first_rung > self.step:
            passed = [asdict(f) for f in check.fits if self.step <= f.rung < check.first_rung]
            move = {"from": self.step, "to": check.first_rung, "at": now,
                    "finished": len(self.histories), "fits": passed}
            self.moves.append(move)
            self.step = check.first_rung
        return self.record(check, now), move

    def record(self, check: RungCheck, now: float) -> dict[str, Any]:
        return {"threshold": self.threshold, "min_pairs": self.min_pairs,
                "rungs": list(self.rungs), "max_t": self.max_t, "first_rung": self.step,
                "moves": [dict(m) for m in self.moves],
                "checked": {"at": now, "finished": len(self.histories),
                            "fits": [asdict(f) for f in check.fits]}}


def merge_records(stored: object, ours: Mapping[str, Any]) -> dict[str, Any]:
    """``ours`` with the moves another driver on the study stored meanwhile kept, and the
    later of the two first rungs (each driver checks its own trials)."""
    out = dict(ours)
    if not isinstance(stored, dict):
        return out
    seen = {(m.get("from"), m.get("to"), m.get("at")) for m in out.get("moves", [])}
    extra = [m for m in stored.get("moves") or [] if isinstance(m, dict)
             and (m.get("from"), m.get("to"), m.get("at")) not in seen]
    if extra:
        out["moves"] = sorted([*out.get("moves", []), *extra],
                              key=lambda m: float(m.get("at") or 0))
    other = stored.get("first_rung")
    if isinstance(other, int) and other > int(out.get("first_rung") or 0):
        out["first_rung"] = other
    return out
