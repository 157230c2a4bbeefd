"""Ray Tune schedulers by name, each explaining every early stop it makes.

The wrapped schedulers are Ray's own; the mixin adds three things Ray lacks:
a trial whose objective is NaN, inf or not a number is stopped at once and
marked failed (Ray's ASHA never stops a NaN trial: ``nan < cutoff`` is false);
a stop at ``max_t`` counts as finishing, not as pruning; and every real early
stop is written down with the rung, the trial's score there and the cutoff.

Only Ray's public scheduler API is used: the constructors, ``on_trial_add``,
``on_trial_result`` and ``on_trial_complete``, and the decisions they return.
The wrappers keep their own copies of the constructor arguments they need and
their own record of every score each trial reported at each step (as the
scheduler saw it, tie-break included); a stop is explained from that record
with the same arithmetic Ray decides with, not by reading Ray's internal state.
Every attribute the wrappers add is named ``_hpo_*`` so it cannot collide with
an attribute of Ray's classes.

``hyperband`` is asynchronous Hyperband: ASHA with several brackets. Ray's
synchronous HyperBand pauses trials and resumes them from checkpoints, which
plain function trainables without checkpoints would restart from scratch.

ASHA and hyperband also check their rungs as trials finish (see
:mod:`hpo.execution._rung_check`): when the ranking at the first rung does not predict
the final ranking, the first rung moves later, and Ray's stops below it are answered
CONTINUE. Ray still records the trial's score at that rung; only the decision returned
changes, so the public API is all this needs. ``check_rungs: false`` turns it off.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.execution._ledger import RAY_KEYS, Ledger, bad_value_reason
from hpo.execution._rung_check import FirstRung, milestones
from hpo.trainables._wrap import INFEASIBLE_KEY, RUNG_ONLY_KEY

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from hpo.spaces import Component, SearchSpec

TIME_ATTR = "training_iteration"

log = logging.getLogger(__name__)


class _Explaining:
    """Mixin over a Ray scheduler; ``make_scheduler`` gives it ``ledger`` and ``hpo_name``.

    ``_hpo_seen`` maps each trial id to the ``(step, value)`` pairs handed to Ray's
    scheduler, in order: the same results Ray itself records, with the same values;
    ``_hpo_subset_steps`` the steps among them scored on a validation subset.
    """

    ledger: Ledger
    hpo_name: str
    _hpo_metric: str | None = None
    _hpo_sign: float = 1.0  # +1 maximise, -1 minimise
    _hpo_max_t: float = math.inf
    _hpo_seen: dict[str, list[tuple[float, float]]]
    _hpo_subset_steps: dict[str, set[float]]

    def _hpo_setup(self, metric: str | None, mode: str | None, max_t: float) -> None:
        self._hpo_metric = metric
        self._hpo_sign = -1.0 if mode == "min" else 1.0
        self._hpo_max_t = max_t
        self._hpo_seen = {}
        self._hpo_subset_steps = {}

    def on_trial_result(self, controller: Any, trial: Any, result: dict[str, Any]) -> str:
        from ray.tune.schedulers import TrialScheduler

        metric = self.ledger.metric
        if INFEASIBLE_KEY in result:
            self.ledger.mark_infeasible(trial.trial_id, str(result[INFEASIBLE_KEY]))
            return TrialScheduler.STOP
        if metric not in result:
            # Ray would end the whole search here; one bad report fails its own trial.
            shown = sorted(k for k in result
                           if k not in RAY_KEYS and k != "time_total_s"
                           and not k.startswith("config/"))
            self.ledger.mark_failed(trial.trial_id, (
                f"the report at step {result.get(TIME_ATTR)} has no objective {metric!r} "
                f"(it reported {', '.join(shown) or 'nothing'})"))
            return TrialScheduler.STOP
        reason = bad_value_reason(metric, result.get(metric))
        if reason is not None:
            self.ledger.mark_failed(trial.trial_id, f"{reason} at step {result.get(TIME_ATTR)}")
            return TrialScheduler.STOP
        diverged = self.ledger.divergence_info(trial.trial_id, result)
        if diverged is not None:
            # Before Ray's rule sees it: ASHA lets ties through, so a population that
            # mostly diverges would keep its diverged trials to the end.
            self.ledger.mark_stopped(trial.trial_id, diverged)
            return TrialScheduler.STOP
        result = self._hpo_resumed_steps(trial, result)
        seen = self._hpo_with_tiebreak(result)
        self._hpo_note(trial, seen)
        action = super().on_trial_result(controller, trial, seen)  # type: ignore[misc]
        step = result.get(TIME_ATTR) or 0
        action = self._hpo_overrule(trial, step, action)
        if action == TrialScheduler.STOP and step < self._hpo_max_t:
            info = self._hpo_explain(trial, result)
            info.setdefault("by", self.hpo_name)
            self.ledger.mark_stopped(trial.trial_id, info)
        return action

    def on_trial_complete(self, controller: Any, trial: Any, result: dict[str, Any]) -> None:
        entry = self.ledger.entry(trial.trial_id)
        if entry is not None and (entry.fail is not None or entry.infeasible is not None
                                  or (entry.stop or {}).get("by") == "divergence"):
            # A failed or diverged trial's last value may be text or huge; keep it out
            # of the rung statistics.
            return
        seen = self._hpo_with_tiebreak(self._hpo_resumed_steps(trial, result))
        self._hpo_note(trial, seen)
        super().on_trial_complete(controller, trial, seen)  # type: ignore[misc]
        self._hpo_completed(trial)

    def _hpo_attach(self, ledger: Ledger) -> None:
        """Record to ``ledger`` from now on (``make_scheduler`` calls it)."""
        self.ledger = ledger

    def _hpo_overrule(self, trial: Any, step: float, action: str) -> str:
        """Ray's decision for ``trial`` at ``step``, or another one (ASHA's hook)."""
        return action

    def _hpo_completed(self, trial: Any) -> None:
        """A trial ended normally and Ray has seen its last result (the rung check's hook)."""

    def _hpo_resumed_steps(self, trial: Any, result: dict[str, Any]) -> dict[str, Any]:
        """The result with the trial's own step: a retried attempt that resumed from a
        checkpoint at step k counts on from k, so rungs and ``max_t`` mean the same
        steps as for a trial that never failed."""
        offset = self.ledger.step_offset(trial.trial_id)
        if not offset or TIME_ATTR not in result:
            return result
        return {**result, TIME_ATTR: result[TIME_ATTR] + offset}

    def _hpo_note(self, trial: Any, seen: dict[str, Any]) -> None:
        """Record a result handed to Ray; Ray ignores one without the step or the metric."""
        metric = self._hpo_metric
        if metric is None or TIME_ATTR not in seen or metric not in seen:
            return
        if bad_value_reason(metric, seen[metric]) is not None:
            return
        self._hpo_seen.setdefault(trial.trial_id, []).append(
            (float(seen[TIME_ATTR]), float(seen[metric]))
        )
        if seen.get(RUNG_ONLY_KEY):
            self._hpo_subset_steps.setdefault(trial.trial_id, set()).add(float(seen[TIME_ATTR]))

    def _hpo_with_tiebreak(self, result: dict[str, Any]) -> dict[str, Any]:
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
        nudge = spec.sign * spec.tiebreak_sign * 1e-6 * math.atan(float(other)) / (math.pi / 2)  # type: ignore[arg-type]
        return {**result, spec.metric: float(value) + nudge}  # type: ignore[arg-type]

    def _hpo_explain(self, trial: Any, result: dict[str, Any]) -> dict[str, Any]:
        return {"rung": result.get(TIME_ATTR), "score": result.get(self.ledger.metric),
                "cutoff": None, "reason": "stopped by the scheduler"}


def _asha_class() -> type:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    class ExplainedASHA(_Explaining, AsyncHyperBandScheduler):  # type: ignore[misc]
        def __init__(self, *, time_attr: str, metric: str, mode: str, max_t: int,
                     grace_period: int = 1, reduction_factor: float = 4, brackets: int = 1,
                     stop_last_trials: bool = True, check_rungs: bool = True,
                     min_samples_required: int = 1) -> None:
            if isinstance(min_samples_required, bool) \
                    or not isinstance(min_samples_required, int) or min_samples_required < 1:
                raise TypeError(f"min_samples_required must be an integer >= 1, got "
                                f"{min_samples_required!r}")
            super().__init__(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t,
                             grace_period=grace_period, reduction_factor=reduction_factor,
                             brackets=brackets, stop_last_trials=stop_last_trials)
            self._hpo_setup(metric, mode, max_t)
            self._hpo_reduction_factor = reduction_factor
            self._hpo_min_samples = min_samples_required
            self._hpo_first: FirstRung | None = None
            if check_rungs:
                self._hpo_first = FirstRung(
                    milestones(grace_period, reduction_factor, max_t), max_t)

        def _hpo_attach(self, ledger: Ledger) -> None:
            super()._hpo_attach(ledger)
            first = self._hpo_first
            if first is not None and isinstance(ledger.rungs_record, dict):
                # A later run on the study starts where the earlier ones moved it to.
                self._hpo_first = FirstRung(first.rungs, first.max_t,
                                            prior=ledger.rungs_record)

        def _hpo_overrule(self, trial: Any, step: float, action: str) -> str:
            from ray.tune.schedulers import TrialScheduler

            if action != TrialScheduler.STOP:
                return action
            if self._hpo_first is not None and self._hpo_first.holds(step):
                return TrialScheduler.CONTINUE
            if self._hpo_min_samples > 1 and step < self._hpo_max_t:
                # Ray judges a rung's second trial against its first alone; on a short
                # search whose first rung barely predicts, that stop is a coin flip.
                judged = self._hpo_rung_cutoff(trial.trial_id, step)
                if judged is not None and judged[1] < self._hpo_min_samples:
                    return TrialScheduler.CONTINUE
            return action

        def _hpo_completed(self, trial: Any) -> None:
            first = self._hpo_first
            if first is None:
                return
            # The scores as this scheduler judged them, tie-break included: the check
            # measures the ranking its stops were made by.
            news = first.finished(trial.trial_id, self._hpo_seen.get(trial.trial_id, []),
                                  self.ledger.clock.time(),
                                  self._hpo_subset_steps.get(trial.trial_id, ()))
            if news is None:
                return
            record, move = news
            self.ledger.record_rungs(record)
            if move is not None:
                from hpo.results._rung_notes import move_line

                log.warning("hpo: %s", move_line(move, record))

        def _hpo_rung_cutoff(self, trial_id: str, rung: float) -> tuple[float, int] | None:
            """The cutoff (in the metric's own direction) a trial at ``rung`` is judged by.

            Ray judges a result at a rung against the trials recorded there before it:
            each with the value of the first result it reported at or past that rung.
            Ray's training_iteration counts reports one by one, so that is the value at
            step ``rung``. Ray's cutoff is ``nanpercentile`` of the recorded values,
            each multiplied by +1 (max) or -1 (min), at ``(1 - 1/reduction_factor) *
            100``, and a result stops when its signed value is below it.

            With several brackets (hyperband), Ray compares a trial only with the
            trials of its own bracket; which bracket a trial is in is Ray's internal
            state, so the explanation is computed over all trials at that rung.
            """
            recorded = []
            for other, rows in self._hpo_seen.items():
                if other == trial_id:
                    continue
                at = next((v for t, v in rows if t >= rung), None)
                if at is not None:
                    recorded.append(self._hpo_sign * at)
            if not recorded:
                return None
            signed = float(np.nanpercentile(recorded, (1 - 1 / self._hpo_reduction_factor) * 100))
            return self._hpo_sign * signed, len(recorded)

        def _hpo_explain(self, trial: Any, result: dict[str, Any]) -> dict[str, Any]:
            # Ray stops a trial short of max_t only at a rung's milestone, at the result
            # that first reaches it: the rung is the current step.
            score = result.get(self.ledger.metric)
            step = result.get(TIME_ATTR)
            judged = None if step is None else self._hpo_rung_cutoff(trial.trial_id, step)
            if judged is None:
                return super()._hpo_explain(trial, result)
            cutoff, peers = judged
            milestone = int(step)  # type: ignore[arg-type]
            word = "below" if self._hpo_sign > 0 else "above"
            quantile = round(100 * (1 - 1 / self._hpo_reduction_factor))
            reason = (f"at step {milestone} its {self.ledger.metric} {score:.4g} was "
                      f"{word} the cutoff {cutoff:.4g} (the top {100 - quantile}% "
                      f"of {peers} earlier trials at that rung)")
            tiebreak = self.ledger.spec.objective.tiebreak
            if tiebreak and isinstance(score, float) and abs(score - cutoff) < 2e-6:
                reason = (f"at step {milestone} its {self.ledger.metric} {score:.4g} tied "
                          f"with the cutoff of the top {100 - quantile}% of {peers} earlier "
                          f"trials and lost the tie-break on {tiebreak} "
                          f"({_fmt(result.get(tiebreak))})")
            return {"rung": milestone, "score": score, "cutoff": cutoff, "reason": reason}

    return ExplainedASHA


def _median_class() -> type:
    from ray.tune.schedulers import MedianStoppingRule

    class ExplainedMedian(_Explaining, MedianStoppingRule):  # type: ignore[misc]
        def __init__(self, *, time_attr: str, metric: str, mode: str,
                     grace_period: float = 60.0, min_samples_required: int = 3) -> None:
            # Ray's rule PAUSEs a trial while too few others have reached its step, if
            # ``step - last_pause > min_time_slice`` (last_pause starts at -inf) and
            # other trials are waiting. A paused function trainable without a
            # checkpoint would restart from scratch, so it must keep running instead:
            # with min_time_slice = inf the comparison is ``inf > inf``, always false,
            # and Ray answers CONTINUE (without asking the controller for waiting
            # trials). Any finite value would pause at the first chance. hard_stop
            # stays True: with False, Ray pauses the trials it stops.
            super().__init__(time_attr=time_attr, metric=metric, mode=mode,
                             grace_period=grace_period,
                             min_samples_required=min_samples_required,
                             min_time_slice=math.inf,  # type: ignore[arg-type]  # Ray says int
                             hard_stop=True)
            self._hpo_setup(metric, mode, math.inf)
            self._hpo_grace_period = grace_period

        def _hpo_explain(self, trial: Any, result: dict[str, Any]) -> dict[str, Any]:
            # Ray's rule: the trial's best value so far is worse than the median of the
            # running means (over grace_period <= step <= now) of the other trials
            # whose latest result is at or past now.
            now = float(result[TIME_ATTR])
            means = []
            for other, rows in self._hpo_seen.items():
                if other == trial.trial_id or not rows or rows[-1][0] < now:
                    continue
                window = [v for t, v in rows if self._hpo_grace_period <= t <= now]
                if window and np.isfinite(mean := float(np.mean(window))):
                    means.append(mean)
            own = [v for _, v in self._hpo_seen.get(trial.trial_id, [])]
            if not means or not own:
                return super()._hpo_explain(trial, result)
            median = float(np.median(means))
            best = max(own) if self._hpo_sign > 0 else min(own)
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

        def __init__(self) -> None:
            super().__init__()
            self._hpo_setup(None, None, math.inf)

    return CheckedFIFO


def make_scheduler(component: Component, spec: SearchSpec, max_steps: int,
                   ledger: Ledger | None = None) -> TrialScheduler:
    """The Ray scheduler named by ``component``: asha, hyperband, median, fifo, or a
    user's ``module:attr`` (a Ray ``TrialScheduler`` subclass, given ``metric``, ``mode``
    and the options; hpo records its stops like those of its own schedulers).

    Args:
        ledger: where stop decisions and bad values are recorded; None only to check
            the options before the study is opened (such a scheduler cannot run).

    Raises:
        ValueError: unknown name or options the scheduler does not take.
    """
    from hpo.execution._registry import is_import_path, load_attr, name_error

    metric = spec.objective.metric
    mode = "max" if spec.objective.sign > 0 else "min"
    opts = dict(component.options)
    name = component.name
    problem = name_error("scheduler", name)
    if problem is not None:
        raise ValueError(problem)
    try:
        if is_import_path(name):
            sched: Any = _user_class(name, load_attr("scheduler", name))(
                metric=metric, mode=mode, max_steps=max_steps, **opts)
        elif name in ("asha", "hyperband"):
            opts.setdefault("grace_period", 1)
            opts.setdefault("reduction_factor", 2)
            if name == "hyperband":
                opts.setdefault("brackets", 3)
            sched = _asha_class()(
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
    if ledger is not None:
        sched._hpo_attach(ledger)
    return sched


def _user_class(path: str, cls: Any) -> type:
    from ray.tune.schedulers import TrialScheduler

    if not (isinstance(cls, type) and issubclass(cls, TrialScheduler)):
        raise ValueError(f"scheduler {path!r} is not a ray.tune.schedulers.TrialScheduler "
                         "subclass")

    class Explained(_Explaining, cls):  # type: ignore[misc, valid-type]
        def __init__(self, *, metric: str, mode: str, max_steps: int, **opts: Any) -> None:
            super().__init__(metric=metric, mode=mode, **opts)
            # Stops at or past max_steps finish a trial rather than prune it.
            self._hpo_setup(metric, mode, max_steps)

    Explained.__name__ = f"Explained{cls.__name__}"
    return Explained


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
