"""``hpo run --warm-start STUDY[,STUDY...]``: seed a new search with earlier best configs.

The best COMPLETE trials of each earlier study are translated into the new space:
a parameter is kept only when the new space samples it and the value is one it
could have sampled (inside the range and on its step, or among its choices).
Everything else is dropped with the reason said. What is left is enqueued with
Optuna's public ``study.enqueue_trial`` (the runner hands enqueued trials out
first), each marked with :data:`hpo.shipping.keys.WARM_START`; parameters left out
are sampled as usual. Seeding the same study twice does not enqueue a config again.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.shipping import keys

if TYPE_CHECKING:
    import optuna

    from hpo.spaces import SearchSpec
    from hpo.spaces._params import Param

#: Best configs taken from each earlier study.
PER_STUDY = 3


@dataclass(frozen=True)
class Seed:
    """One earlier config as the new space sees it."""

    study: str
    trial: int
    value: float
    kept: dict[str, Any]
    dropped: dict[str, str] = field(default_factory=dict)

    def mark(self) -> dict[str, Any]:
        return {"study": self.study, "trial": self.trial, "value": self.value,
                "dropped": self.dropped}


def value_problem(param: Param, value: Any) -> str | None:
    """Why ``value`` cannot be a sample of ``param`` in the new space; None when it can."""
    from hpo.spaces._params import CategoricalParam, FixedParam, FloatParam, IntParam

    if isinstance(param, FixedParam):
        return None if value == param.value else (
            f"the new space fixes it to {param.value!r} (was {value!r})")
    if isinstance(param, CategoricalParam):
        return None if value in param.choices else (
            f"{value!r} is not among the new choices {list(param.choices)!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{value!r} is not a number, the new space samples {param.name} as one"
    if isinstance(param, IntParam) and value != int(value):
        return f"{value!r} is not an integer, the new space samples {param.name} as one"
    if not param.low <= value <= param.high:
        return f"{value!r} is outside the new range [{param.low!r}, {param.high!r}]"
    step = param.step
    if step and isinstance(param, (FloatParam, IntParam)):
        k = (value - param.low) / step
        if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
            return f"{value!r} is off the new step {step!r} from {param.low!r}"
    return None


def translate(spec: SearchSpec, study: str, trial: int, value: float,
              params: dict[str, Any]) -> Seed:
    """``params`` of an earlier trial, reduced to what the new space ``spec`` can take."""
    from hpo.spaces._params import FixedParam

    by_name = {p.name: p for p in spec.params}
    kept: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    active: dict[str, Any] = {}
    for p in spec.params:  # in the space's order, so conditions see their parents
        if not all(cond.holds(active) for cond in p.when):
            if p.name in params:
                dropped[p.name] = "inactive in the new space (its condition does not hold)"
            continue
        if isinstance(p, FixedParam):
            active[p.name] = p.value
            if p.name in params and params[p.name] != p.value:
                dropped[p.name] = f"the new space fixes it to {p.value!r} (was {params[p.name]!r})"
            continue
        if p.name not in params:
            continue
        problem = value_problem(p, params[p.name])
        if problem is None:
            kept[p.name] = active[p.name] = params[p.name]
        else:
            dropped[p.name] = problem
    for name in sorted(set(params) - set(by_name)):
        dropped[name] = "not a parameter of the new space"
    return Seed(study=study, trial=trial, value=value, kept=kept, dropped=dropped)


def plan(spec: SearchSpec, sources: list[str], storage: str | None,
         per_study: int = PER_STUDY) -> list[Seed]:
    """The translated best configs of every study in ``sources``, best first per study.

    Raises:
        ValueError: a source study does not exist.
    """
    import optuna

    from hpo.shipping.finalize import top_trials
    from hpo.storage import open_storage

    store = open_storage(storage)
    out = []
    for name in sources:
        try:
            source = optuna.load_study(study_name=name, storage=store)
        except KeyError:
            raise ValueError(f"--warm-start: no study {name!r} in the store") from None
        for t in top_trials(source, per_study):
            out.append(translate(spec, name, t.number, float(t.value),  # type: ignore[arg-type]
                                 dict(t.params)))
    return out


def target_study(spec: SearchSpec, name: str, storage: str | None,
                  overwrite: bool) -> optuna.Study:
    """The study the new search will run in, created bare if absent (``run_search`` then
    writes its attributes). A study of another experiment is refused as ``hpo run`` does."""
    import optuna

    from hpo.storage import StudyMismatch, attrs, open_storage

    store = open_storage(storage)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        study = None
    if study is not None:
        stored = study.user_attrs.get(attrs.FINGERPRINT)
        if stored is not None and stored != spec.fingerprint():
            if not overwrite:
                raise StudyMismatch(f"study {name!r} was created from a different experiment; "
                                    "warm start refused. Use --study NEW_NAME or --overwrite.")
            optuna.delete_study(study_name=name, storage=store)
            study = None
    if study is None:
        study = optuna.create_study(study_name=name, storage=store, load_if_exists=True,
                                    direction=spec.objective.direction)  # type: ignore[arg-type]
    return study


def enqueue(spec: SearchSpec, study_name: str, sources: list[str], storage: str | None, *,
            overwrite: bool = False, per_study: int = PER_STUDY) -> tuple[list[Seed], list[Seed]]:
    """Enqueue the translated configs in ``study_name``.

    Returns:
        ``(enqueued, skipped)``: skipped ones had nothing left, repeat another seed's
        parameters, or were enqueued by an earlier warm start of this study.
    """
    import optuna

    seeds = plan(spec, [s for s in sources if s != study_name], storage, per_study)
    study = target_study(spec, study_name, storage, overwrite)
    already = set()
    for t in study.get_trials(deepcopy=False):
        mark = t.user_attrs.get(keys.WARM_START)
        if isinstance(mark, dict):
            already.add((mark.get("study"), mark.get("trial")))
    done, skipped = [], []
    seen: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for seed in seeds:
            if not seed.kept or seed.kept in seen or (seed.study, seed.trial) in already:
                skipped.append(seed)
                continue
            seen.append(seed.kept)
            study.enqueue_trial(seed.kept, user_attrs={keys.WARM_START: seed.mark()})
            done.append(seed)
    return done, skipped


def seed_search(spec: SearchSpec, study: str | None, storage: str | None, sources: str,
                overwrite: bool = False, out: Any = None) -> list[Seed]:
    """What ``hpo run --warm-start`` calls: enqueue, and say what was kept and dropped."""
    import sys

    stream = out if out is not None else sys.stderr
    name = study or spec.name or Path(spec.source).stem  # as run_search names it
    names = [s.strip() for s in sources.split(",") if s.strip()]
    done, skipped = enqueue(spec, name, names, storage, overwrite=overwrite)
    for seed in done + skipped:
        state = "seeded" if seed in done else "skipped"
        if seed in skipped:
            why = ("nothing left" if not seed.kept else "already seeded or a repeat")
            state = f"skipped ({why})"
        kept = ", ".join(f"{k}={v!r}" for k, v in seed.kept.items()) or "-"
        print(f"warm start: {seed.study} trial {seed.trial} ({seed.value:.4g}) {state}: "
              f"kept {kept}", file=stream)
        for param, reason in seed.dropped.items():
            print(f"  dropped {param}: {reason}", file=stream)
    print(f"warm start: {len(done)} configs enqueued in study {name}", file=stream)
    return done
