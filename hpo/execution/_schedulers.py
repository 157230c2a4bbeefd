"""Ray Tune schedulers by name, each explaining every early stop it makes.

The wrapped schedulers are Ray's own; the mixin adds three things Ray lacks:
a trial whose objective is NaN, inf or not a number is stopped at once and
marked failed (Ray's ASHA never stops a NaN trial: ``nan < cutoff`` is false);
a stop at ``max_t`` counts as finishing, not as pruning; and every real early
stop is written down with the rung, the trial's score there and the cutoff.

``hyperband`` is asynchronous Hyperband: ASHA with several brackets. Ray's
synchronous HyperBand pauses trials and resumes them from checkpoints, which
plain function trainables without checkpoints would restart from scratch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.execution._book import Ledger, bad_value_reason

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from hpo.spaces import Component, SearchSpec

TIME_ATTR = "training_iteration"


class _Explaining:
    """Mixin over a Ray scheduler; ``ledger`` and ``hpo_name`` are set after construction."""

    ledger: Ledger
    hpo_name: str
    _metric: str
    _max_t: float

    def on_trial_result(self, controller: Any, trial: Any, result: dict[str, Any]) -> str:
        from ray.tune.schedulers import TrialScheduler

        metric = self.ledger.metric
        reason = bad_value_reason(metric, result.get(metric))
        if reason is not None and metric in result:
            self.ledger.mark_failed(trial.trial_id, f"{reason} at step {result.get(TIME_ATTR)}")
            return TrialScheduler.STOP
        seen = self._with_tiebreak(result)
        before = self._before(trial, seen)
        action = super().on_trial_result(controller, trial, seen)  # type: ignore[misc]
        step = result.get(TIME_ATTR) or 0
        if action == TrialScheduler.STOP and step < self._max_t:
            info = self._explain(trial, result, before)
            info.setdefault("by", self.hpo_name)
            self.ledger.mark_stopped(trial.trial_id, info)
        return action

    def on_trial_complete(self, controller: Any, trial: Any, result: dict[str, Any]) -> None:
        entry = self.ledger.entry(trial.trial_id)
        if entry is not None and entry.fail is not None:
            # A failed trial's last value may be text; keep it out of the rung statistics.
            return
        super().on_trial_complete(controller, trial, self._with_tiebreak(result))  # type: ignore[misc]

    def _with_tiebreak(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result as the scheduler sees it: ties on the objective cut by a second metric.

        The adjustment is below 1e-6 (the tie-break value is squashed by atan), so it
        orders only trials whose objective is equal, e.g. all at the majority-class
        accuracy after the first epoch, instead of letting all of them through.
        """
        spec = self.ledger.spec.objective
        value, other = result.get(spec.metric), result.get(spec.tiebreak or "")
        if spec.tiebreak is None or bad_value_reason(spec.metric, value) is not None \
                or bad_value_reason(spec.tiebreak, other) is not None:
            return result
        tb_sign = 1.0 if spec.tiebreak_direction == "maximize" else -1.0
        nudge = spec.sign * tb_sign * 1e-6 * math.atan(float(other)) / (math.pi / 2)  # type: ignore[arg-type]
        return {**result, spec.metric: float(value) + nudge}  # type: ignore[arg-type]

    def _before(self, trial: Any, result: dict[str, Any]) -> Any:
        return None

    def _explain(self, trial: Any, result: dict[str, Any], before: Any) -> dict[str, Any]:
        return {"rung": result.get(TIME_ATTR), "score": result.get(self.ledger.metric),
                "cutoff": None, "reason": "stopped by the scheduler"}


def _asha_class() -> type:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    class ExplainedASHA(_Explaining, AsyncHyperBandScheduler):  # type: ignore[misc]
        def _before(self, trial: Any, result: dict[str, Any]) -> Any:
            # The cutoff a result is judged against is computed before it is recorded.
            bracket = self._trial_info.get(trial.trial_id)
            cur = result.get(TIME_ATTR)
            if bracket is None or cur is None:
                return None
            for milestone, recorded in bracket._rungs:
                if cur >= milestone and trial.trial_id not in recorded:
                    cutoff = bracket.cutoff(recorded)
                    return milestone, cutoff, len(recorded)
                if cur >= milestone:
                    return None
            return None

        def _explain(self, trial: Any, result: dict[str, Any], before: Any) -> dict[str, Any]:
            score = result.get(self.ledger.metric)
            if before is None or before[1] is None:
                return super()._explain(trial, result, before)
            milestone: float = before[0]
            cutoff: float = before[1]
            peers: int = before[2]
            op = float(self._metric_op or 1.0)  # +1 maximise, -1 minimise
            cutoff_user = op * cutoff
            word = "below" if op > 0 else "above"
            quantile = round(100 * (1 - 1 / self._reduction_factor))
            reason = (f"at step {int(milestone)} its {self.ledger.metric} {score:.4g} was "
                      f"{word} the cutoff {cutoff_user:.4g} (the top {100 - quantile}% "
                      f"of {peers} earlier trials at that rung)")
            tiebreak = self.ledger.spec.objective.tiebreak
            if tiebreak and isinstance(score, float) and abs(score - cutoff_user) < 2e-6:
                reason = (f"at step {int(milestone)} its {self.ledger.metric} {score:.4g} tied "
                          f"with the cutoff of the top {100 - quantile}% of {peers} earlier "
                          f"trials and lost the tie-break on {tiebreak} "
                          f"({_fmt(result.get(tiebreak))})")
            return {"rung": int(milestone), "score": score, "cutoff": cutoff_user,
                    "reason": reason}

    return ExplainedASHA


def _median_class() -> type:
    from ray.tune.schedulers import MedianStoppingRule

    class ExplainedMedian(_Explaining, MedianStoppingRule):  # type: ignore[misc]
        _max_t = float("inf")

        def _on_insufficient_samples(self, controller: Any, trial: Any, time: float) -> str:
            # Ray's rule PAUSEs a trial while too few others have reached its step; a
            # paused function trainable without a checkpoint would restart from
            # scratch, so it keeps running instead.
            from ray.tune.schedulers import TrialScheduler

            return TrialScheduler.CONTINUE

        def _explain(self, trial: Any, result: dict[str, Any], before: Any) -> dict[str, Any]:
            now = result[self._time_attr]
            others = [t for t in self._trials_beyond_time(now) if t is not trial]
            means = [m for m in (self._running_mean(t, now) for t in others) if np.isfinite(m)]
            median = float(np.median(means)) if means else None
            best = float(self._best_result(trial))
            return {
                "rung": int(now),
                "score": best,
                "cutoff": median,
                "reason": (f"at step {int(now)} its best {self.ledger.metric} {best:.4g} was "
                           f"worse than the median {median:.4g} of {len(means)} other trials' "
                           "running means"),
            }

    return ExplainedMedian


def _fifo_class() -> type:
    from ray.tune.schedulers import FIFOScheduler

    class CheckedFIFO(_Explaining, FIFOScheduler):  # type: ignore[misc]
        """No early stopping; still fails trials whose objective is not a finite number."""

        _max_t = float("inf")

    return CheckedFIFO


def make_scheduler(component: Component, spec: SearchSpec, max_steps: int) -> TrialScheduler:
    """The Ray scheduler named by ``component`` (asha, hyperband, median or fifo).

    Its ``ledger`` attribute must be set before the search starts.

    Raises:
        ValueError: unknown name or options the scheduler does not take.
    """
    metric = spec.objective.metric
    mode = "max" if spec.objective.sign > 0 else "min"
    opts = dict(component.options)
    name = component.name
    try:
        if name in ("asha", "hyperband"):
            opts.setdefault("grace_period", 1)
            opts.setdefault("reduction_factor", 2)
            if name == "hyperband":
                opts.setdefault("brackets", 3)
            sched: Any = _asha_class()(
                time_attr=TIME_ATTR, metric=metric, mode=mode, max_t=max_steps, **opts
            )
        elif name == "median":
            opts.setdefault("grace_period", 1)
            opts.setdefault("min_samples_required", 3)
            sched = _median_class()(time_attr=TIME_ATTR, metric=metric, mode=mode, **opts)
        elif name == "fifo":
            if opts:
                raise TypeError(f"fifo takes no options, got {sorted(opts)}")
            sched = _fifo_class()()
        else:
            raise ValueError(
                f"unknown scheduler {name!r}; choose one of asha, hyperband, median, fifo"
            )
    except TypeError as exc:
        raise ValueError(f"scheduler {name!r}: bad options {component.options!r}: {exc}") from exc
    sched.hpo_name = name
    return sched


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
