"""Derived analyses: parameter importance (Optuna's evaluators), contour grid, Pareto front."""

from __future__ import annotations

import datetime
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

from hpo.dashboard._extract import ParamAxis, ParamData
from hpo.results import StudySnapshot
from hpo.results._summary import finite as _finite
from hpo.storage import attrs

EVALUATORS = ("ped-anova", "fanova", "mean-decrease-impurity")  # the pages list these too
DEFAULT_EVALUATOR = EVALUATORS[0]
# What each evaluator needs beyond Optuna, named in the panel when it is missing.
EVALUATOR_NEEDS = {"fanova": "scikit-learn", "mean-decrease-impurity": "scikit-learn"}

# Completed trials a panel needs before it draws (fewer: it says so instead). Two points
# give any parameter an importance of 0.5 and a contour is interpolated across the whole
# grid from a handful; below ADVISED_TRIALS the panel draws but says it is a rough guide.
MIN_TRIALS = {"importance": 5, "contour": 5, "slice": 3}
ADVISED_TRIALS = 10


def too_few(panel: str, n: int) -> str | None:
    """Why ``panel`` will not draw from ``n`` completed trials, or None when it will."""
    need = MIN_TRIALS[panel]
    if n >= need:
        return None
    return (f"Needs at least {need} completed trials with a value; this study has {n}. "
            "Drawn from fewer, it would look more certain than it is.")


def based_on(n: int) -> str:
    """The title suffix saying how many completed trials a panel is drawn from."""
    rough = " (few: a rough guide)" if n < ADVISED_TRIALS else ""
    return f"based on {n} completed trial{'s' if n != 1 else ''}{rough}"


class EvaluatorUnavailable(RuntimeError):
    """The chosen importance evaluator needs a package that is not installed (the message
    names it and how to install it)."""


@dataclass(frozen=True)
class Importance:
    """Normalised importance per parameter, most important first (empty: not computable)."""

    evaluator: str
    n_trials: int
    importances: tuple[tuple[str, float], ...]
    note: str = ""


def _evaluator(name: str) -> Any:
    import optuna.importance as oi

    if name == "ped-anova":
        return oi.PedAnovaImportanceEvaluator()
    if name == "fanova":
        return oi.FanovaImportanceEvaluator(seed=0)
    if name == "mean-decrease-impurity":
        return oi.MeanDecreaseImpurityImportanceEvaluator(seed=0)
    raise ValueError(f"importance evaluator {name!r} is not one of {list(EVALUATORS)}")


def importance(snap: StudySnapshot, evaluator: str = DEFAULT_EVALUATOR,
               objective: int = 0) -> Importance:
    """Parameter importance of objective ``objective`` by one of Optuna's evaluators.

    Raises:
        ValueError: ``evaluator`` is not one of :data:`EVALUATORS`.
        EvaluatorUnavailable: the evaluator needs a package that is not installed.
    """
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial, TrialState

    if evaluator not in EVALUATORS:
        raise ValueError(f"importance evaluator {evaluator!r} is not one of {list(EVALUATORS)}")
    # (record, its values): the values checked present here, so typed as present below.
    done = [(r, r.values) for r in snap.trials if r.state == "COMPLETE" and r.values
            and all(_finite(v) for v in r.values) and r.params]
    few = too_few("importance", len(done))
    if few is not None:
        return Importance(evaluator, len(done), (), few)
    directions = snap.meta.directions or ("minimize",)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # The store keeps Optuna's direction names in lower case ("minimize", "maximize").
    study = optuna.create_study(directions=[StudyDirection[d.upper()] for d in directions])
    stamp = datetime.datetime(2000, 1, 1)  # evaluators ignore times; Optuna requires them
    study.add_trials([
        FrozenTrial(number=r.number, state=TrialState.COMPLETE, value=None, values=list(values),
                    datetime_start=stamp, datetime_complete=stamp, params=r.params,
                    distributions=r.distributions, user_attrs={}, system_attrs={},
                    intermediate_values={}, trial_id=r.trial_id) for r, values in done])
    # With a target, evaluators assume lower is better: flip maximised objectives.
    sign = -1.0 if directions[objective] == "maximize" else 1.0
    target = None if len(directions) == 1 else (lambda t: sign * t.values[objective])
    try:
        ev = _evaluator(evaluator)  # fanova and MDI raise ImportError here without sklearn
        with warnings.catch_warnings():
            # hpo flips maximised objectives itself (above), so the evaluator's notice
            # that it ranks low targets as better is expected here; nothing else is hidden.
            warnings.filterwarnings("ignore", message=r".* computes the importances of "
                                    r"params to achieve low `target` values")
            result = optuna.importance.get_param_importances(study, evaluator=ev, target=target)
    except ImportError as exc:
        need = EVALUATOR_NEEDS.get(evaluator, str(exc.name or "a missing package"))
        raise EvaluatorUnavailable(
            f"the {evaluator} importance evaluator needs {need}, which is not installed "
            f"here. Install it with: pip install {need}; or choose {DEFAULT_EVALUATOR}, "
            "which needs nothing more.") from exc
    except (RuntimeError, ValueError) as exc:  # e.g. a single distinct value per parameter
        return Importance(evaluator, len(done), (), f"not computable: {exc}")
    return Importance(evaluator, len(done),
                      tuple(sorted(result.items(), key=lambda kv: -kv[1])))


@dataclass(frozen=True)
class Contour:
    """Mean objective on a grid over two parameters, plus the trials themselves."""

    metric: str
    x: ParamAxis
    y: ParamAxis
    x_centers: tuple[float, ...]
    y_centers: tuple[float, ...]
    z: tuple[tuple[float | None, ...], ...]  # z[iy][ix], None: no trial in that cell
    points_x: tuple[float, ...]
    points_y: tuple[float, ...]
    points_value: tuple[float, ...]


def _edges(axis: ParamAxis, vals: list[float], bins: int) -> list[float]:
    if axis.choices is not None:
        return [i - 0.5 for i in range(len(axis.choices) + 1)]
    lo, hi = min(vals), max(vals)
    if axis.log and lo > 0:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi == lo:
        hi = lo + 1.0
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    return [10 ** e for e in edges] if axis.log and min(vals) > 0 else edges


def contour(data: ParamData, x: str, y: str, bins: int = 20) -> Contour:
    """Bin the completed trials over parameters ``x`` and ``y``; each cell holds the mean.

    Raises:
        KeyError: ``x`` or ``y`` is not a parameter of the study.
    """
    axes = {a.name: a for a in data.axes}
    for name in (x, y):
        if name not in axes:
            raise KeyError(f"parameter {name!r} not in study; choose one of {sorted(axes)}")
    ax, ay = axes[x], axes[y]
    pts = [(vx, vy, v) for vx, vy, v in zip(ax.values, ay.values, data.objective, strict=True)
           if vx is not None and vy is not None]
    if not pts:
        return Contour(data.metric, ax, ay, (), (), (), (), (), ())
    ex = _edges(ax, [p[0] for p in pts], bins)
    ey = _edges(ay, [p[1] for p in pts], bins)
    from bisect import bisect_right

    sums: dict[tuple[int, int], list[float]] = {}
    for vx, vy, v in pts:
        ix = min(max(bisect_right(ex, vx) - 1, 0), len(ex) - 2)
        iy = min(max(bisect_right(ey, vy) - 1, 0), len(ey) - 2)
        cell = sums.setdefault((ix, iy), [0.0, 0])
        cell[0] += v
        cell[1] += 1

    def centers(axis: ParamAxis, e: list[float]) -> tuple[float, ...]:
        if axis.log and e[0] > 0:
            return tuple(math.sqrt(a * b) for a, b in itertools.pairwise(e))
        return tuple((a + b) / 2 for a, b in itertools.pairwise(e))

    z = tuple(tuple((sums[(ix, iy)][0] / sums[(ix, iy)][1]) if (ix, iy) in sums else None
                    for ix in range(len(ex) - 1)) for iy in range(len(ey) - 1))
    return Contour(data.metric, ax, ay, centers(ax, ex), centers(ay, ey), z,
                   tuple(p[0] for p in pts), tuple(p[1] for p in pts), tuple(p[2] for p in pts))


@dataclass(frozen=True)
class Pareto:
    """Completed trials in the plane of two objectives; ``on_front`` marks non-dominated ones."""

    names: tuple[str, str]
    directions: tuple[str, str]
    numbers: tuple[int, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]
    on_front: tuple[bool, ...]


def pareto(snap: StudySnapshot, first: int = 0, second: int = 1) -> Pareto | None:
    """Pareto front over objectives ``first`` and ``second``; None for single-objective studies."""
    dirs = snap.meta.directions
    if len(dirs) < 2:
        return None
    # (number, first objective, second objective) of each completed trial that has both.
    done = [(r.number, r.values[first], r.values[second]) for r in snap.trials
            if r.state == "COMPLETE" and r.values and len(r.values) > 1
            and _finite(r.values[first]) and _finite(r.values[second])]
    sign = [1.0 if dirs[i] == "minimize" else -1.0 for i in (first, second)]
    # Sweep in order of the first objective (to be minimised after sign flip): a point is on
    # the front when it beats every earlier point on the second objective.
    order = sorted(range(len(done)), key=lambda i: (sign[0] * done[i][1], sign[1] * done[i][2]))
    front = [False] * len(done)
    best_b = math.inf
    for i in order:
        b = sign[1] * done[i][2]
        if b < best_b:
            front[i] = True
            best_b = b
    metric = snap.meta.user_attrs.get(attrs.METRIC)
    if isinstance(metric, (list, tuple)) and len(metric) > max(first, second):
        names = (str(metric[first]), str(metric[second]))
    else:
        names = (f"objective {first}", f"objective {second}")
    return Pareto(names, (dirs[first], dirs[second]), tuple(d[0] for d in done),
                  tuple(d[1] for d in done), tuple(d[2] for d in done), tuple(front))
