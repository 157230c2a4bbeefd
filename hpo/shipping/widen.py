"""``hpo run SPACE --widen STUDY``: search on past the bounds STUDY's best trial sat at.

When the best trial's value of a numeric parameter sits at the edge of its range (see
:mod:`hpo.results._edges`), the optimum may lie outside it. ``--widen`` grows each such
range by half its width past that bound and runs the space as a new study
(``<STUDY>-widened`` unless ``--study`` names one) that starts from what STUDY already
knows: every COMPLETE and PRUNED trial whose config the widened space could have
sampled is added to the new study as it finished there (values, intermediate values,
stop explanation) with Optuna's public ``study.add_trial``, so the sampler learns from
them at once and no compute is spent running them again. Those trials are marked
:data:`hpo.storage.attrs.CARRIED` and do not count toward the new study's trial budget.

Optuna has the pieces (``create_trial``, ``add_trial``) but no notion of a range to
widen or of which past trials still fit; this module is that glue.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.results._edges import bound_text

if TYPE_CHECKING:
    import optuna

    from hpo.results import StudySnapshot, TrialRecord
    from hpo.spaces import SearchSpec
    from hpo.spaces._params import Param

__all__ = ["Widening", "carry_trials", "record_lines", "widen_space", "widened_name"]


@dataclass(frozen=True)
class Widening:
    """What ``--widen`` changed: each widened range, before and after, and why not others."""

    study: str
    trial: int
    ranges: dict[str, tuple[tuple[float, float], tuple[float, float]]]
    left: dict[str, str]  # parameters at an edge that stay as they are, and why

    def record(self) -> dict[str, Any]:
        """The study attribute :data:`hpo.storage.attrs.WIDENED` (JSON-able)."""
        return {"from": self.study, "trial": self.trial,
                "ranges": {k: {"before": list(b), "after": list(a)}
                           for k, (b, a) in self.ranges.items()},
                "left": dict(self.left)}

    def lines(self) -> list[str]:
        out = [f"widen: best trial {self.trial} of study {self.study!r} sits at the edge of "
               f"{len(self.ranges) + len(self.left)} range(s)"]
        out += [f"  {name}: {_change(b, a)}" for name, (b, a) in self.ranges.items()]
        out += [f"  {name}: left as it is ({why})" for name, why in self.left.items()]
        return out


def record_lines(user_attrs: dict[str, Any]) -> list[str]:
    """What ``hpo show`` says of a study made by ``--widen`` (nothing for another)."""
    from hpo.storage import attrs

    rec = user_attrs.get(attrs.WIDENED)
    if not isinstance(rec, dict):
        return []
    ranges = rec.get("ranges") or {}
    shown = ", ".join(f"{k} {_change(v['before'], v['after'])}"
                      for k, v in ranges.items() if isinstance(v, dict))
    return [f"widened from study {rec.get('from')!r} (its best trial {rec.get('trial')} sat "
            f"at the edge): {shown or 'no range'}; {rec.get('carried', 0)} of its finished "
            f"trials carried over (not run here, not counted in the trial budget), "
            f"{rec.get('left_out', 0)} did not fit"]


def widened_name(study: str) -> str:
    """The new study's name when ``--study`` gives none."""
    return f"{study}-widened"


def widen_space(spec: SearchSpec, snap: StudySnapshot) -> tuple[SearchSpec, Widening]:
    """``spec`` with the ranges grown where ``snap``'s best trial sits at an edge.

    A range grows relative to the one the best trial was sampled from; if the space
    file's range is already wider, the wider bound is kept.

    Raises:
        ValueError: the study has no best trial, or no range of the space to widen.
    """
    from hpo.results import best_trial
    from hpo.results._edges import range_edges
    from hpo.spaces._params import FloatParam, IntParam

    best = best_trial(snap)
    if best is None:
        raise ValueError(f"--widen: study {snap.meta.name!r} has no completed trial to "
                         "widen from")
    by_name = {p.name: p for p in spec.params}
    ranges: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    left: dict[str, str] = {}
    params = list(spec.params)
    for edge in range_edges(best):
        param = by_name.get(edge.param)
        wide = edge.widened
        if not isinstance(param, (FloatParam, IntParam)):
            left[edge.param] = "the space no longer samples it as a number"
        elif wide is None:
            left[edge.param] = "its bound is 0, a natural limit"
        else:
            low, high = min(param.low, wide[0]), max(param.high, wide[1])
            low, high = _on_step(param, low, high)
            if (low, high) == (param.low, param.high):
                left[edge.param] = "the space's range is already that wide"
                continue
            new: FloatParam | IntParam = (
                dataclasses.replace(param, low=int(low), high=int(high))
                if isinstance(param, IntParam)
                else dataclasses.replace(param, low=float(low), high=float(high)))
            params[params.index(param)] = new
            ranges[edge.param] = ((param.low, param.high), (new.low, new.high))
    widening = Widening(snap.meta.name, best.number, ranges, left)
    if not ranges:
        why = "; ".join(f"{k}: {v}" for k, v in left.items()) or "every value is inside"
        raise ValueError(f"--widen: nothing to widen in study {snap.meta.name!r}, best trial "
                         f"{best.number} ({why})")
    return dataclasses.replace(spec, params=tuple(params)), widening


def _on_step(param: Any, low: float, high: float) -> tuple[float, float]:
    """Bounds on the parameter's grid: whole steps from its old low (integers for ints)."""
    step = param.step
    if not step:
        return low, high
    below = math.ceil((param.low - low) / step - 1e-9)
    low = param.low - below * step
    high = low + math.floor((high - low) / step + 1e-9) * step
    return low, high


def distribution(param: Param) -> optuna.distributions.BaseDistribution | None:
    """The Optuna distribution ``param.suggest`` samples from (None: a fixed value)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from hpo.spaces._params import CategoricalParam, FloatParam, IntParam

    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, CategoricalParam):
        return CategoricalDistribution(param.choices)
    return None


def _fits(spec: SearchSpec, rec: TrialRecord) -> dict[str, Any] | None:
    """``rec``'s parameters if the space could have sampled exactly them, else None."""
    from hpo.shipping.warm_start import translate
    from hpo.spaces._params import FixedParam

    seed = translate(spec, "", rec.number, 0.0, dict(rec.params))
    if seed.dropped:
        return None
    active: dict[str, Any] = {}
    for p in spec.params:  # every parameter the space samples for this config is known
        if not all(cond.holds(active) for cond in p.when):
            continue
        if isinstance(p, FixedParam):
            active[p.name] = p.value
        elif p.name not in seed.kept:
            return None
        else:
            active[p.name] = seed.kept[p.name]
    return seed.kept


def carry_trials(spec: SearchSpec, source: StudySnapshot, target: optuna.Study
                 ) -> tuple[int, int]:
    """Add ``source``'s COMPLETE and PRUNED trials that fit ``spec`` to ``target``.

    Returns:
        ``(carried, left_out)``. Trials carried by an earlier ``--widen`` of ``target``
        are not added again.
    """
    import optuna
    from optuna.trial import TrialState

    from hpo.storage import attrs

    done = {(m.get("study"), m.get("trial"))
            for t in target.get_trials(deepcopy=False)
            if isinstance(m := t.user_attrs.get(attrs.CARRIED), dict)}
    by_name = {p.name: p for p in spec.params}
    keep_attrs = (attrs.STEP, attrs.BEST_STEP, attrs.STOP)
    carried = left_out = 0
    for rec in source.trials:
        if rec.state not in ("COMPLETE", "PRUNED"):
            continue
        if (source.meta.name, rec.number) in done:
            continue
        params = _fits(spec, rec)
        value = rec.values[0] if rec.values else None
        if value is not None and not math.isfinite(value):
            value = None
        if params is None or (rec.state == "COMPLETE" and value is None):
            left_out += 1
            continue
        dists = {k: d for k in params if (d := distribution(by_name[k])) is not None}
        user = {k: rec.user_attrs[k] for k in keep_attrs if k in rec.user_attrs}
        user[attrs.CARRIED] = {"study": source.meta.name, "trial": rec.number}
        target.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE if rec.state == "COMPLETE" else TrialState.PRUNED,
            value=value,
            params={k: params[k] for k in dists}, distributions=dists, user_attrs=user,
            intermediate_values={s: v for s, v in rec.intermediate.items()
                                 if math.isfinite(v)}))
        carried += 1
    return carried, left_out


def _change(before: Any, after: Any) -> str:
    """``[low, high] -> [low, high]`` of one widened range."""
    return (f"[{bound_text(before[0])}, {bound_text(before[1])}] -> "
            f"[{bound_text(after[0])}, {bound_text(after[1])}]")
