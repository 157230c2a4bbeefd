"""``hpo finalize``: re-run a search's top configs over seeds and pick one robustly.

The top-k COMPLETE trials of the search study (by search score) are re-run at full
fidelity (no early stopping, every report a trial makes) with S seeds each, as Ray
trials in parallel through :func:`hpo.execution.run_search`, in a study of their own,
``<study>-finalize``, linked both ways (:mod:`hpo.shipping.keys`). Its space is the
search's own with four changes: a ``seed`` parameter (enqueued, never sampled), the
``fifo`` scheduler, ``value: last`` (the model a full run ends with, which is what
``hpo train`` will produce) and, for the built-in trainables, a selection split in
the data section, so finalists are scored on data the search never ranked on.

Each (config, seed) pair is enqueued with Optuna's public ``study.enqueue_trial``;
the runner hands enqueued trials out first. Pairs already finished in an earlier
finalize with the same settings are reused, not re-run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo.shipping import keys
from hpo.shipping.interval import Interval, pick_key, summarise

if TYPE_CHECKING:
    import optuna

    from hpo.spaces import SearchSpec

SEED_PARAM = "seed"
SEED_HIGH = 2 ** 31 - 1


@dataclass(frozen=True)
class Candidate:
    """One finalist: a search trial's config and its scores over seeds."""

    trial: int
    params: dict[str, Any]
    search_score: float
    scores: tuple[float, ...]
    interval: Interval | None
    finalize_trials: tuple[int, ...] = ()

    def record(self) -> dict[str, Any]:
        iv = self.interval
        return {
            "trial": self.trial, "params": self.params, "search_score": self.search_score,
            "scores": list(self.scores), "finalize_trials": list(self.finalize_trials),
            "n": 0 if iv is None else iv.n,
            **({"mean": None, "std": None, "low": None, "high": None} if iv is None else
               {"mean": iv.mean, "std": iv.std, "low": iv.low, "high": iv.high}),
        }


@dataclass(frozen=True)
class FinalizeResult:
    """What ``finalize`` found; :meth:`record` is what the search study stores."""

    study: str
    finalize_study: str
    pick_by: str
    seeds: tuple[int, ...]
    direction: str
    candidates: tuple[Candidate, ...]
    picked: Candidate | None
    selection: dict[str, Any]
    reused: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def optimism(self) -> float | None:
        """Search score minus selection score of the pick (positive: the search overstated)."""
        p = self.picked
        if p is None or p.interval is None:
            return None
        return p.search_score - p.interval.mean

    def record(self) -> dict[str, Any]:
        return {
            "study": self.finalize_study, "pick_by": self.pick_by, "seeds": list(self.seeds),
            "top_k": len(self.candidates), "direction": self.direction,
            "picked": None if self.picked is None else self.picked.trial,
            "selection": self.selection, "optimism": self.optimism,
            "candidates": [c.record() for c in self.candidates],
            "finished_at": time.time(),
        }


def load_search(name: str, storage: str | None) -> tuple[optuna.Study, SearchSpec]:
    """The search study and the space it was made from.

    Raises:
        KeyError: no such study (its message lists the studies there are).
        ValueError: the study was not made by ``hpo run`` (no space text on it).
    """
    import optuna

    from hpo.spaces import parse_space
    from hpo.storage import attrs, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_storage(storage)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(store))
        raise KeyError(f"no study {name!r} in the store; studies: {', '.join(names) or 'none'}"
                       ) from None
    text = study.user_attrs.get(attrs.SPACE_TEXT)
    if not isinstance(text, str):
        raise ValueError(f"study {name!r} has no {attrs.SPACE_TEXT!r}: it was not made by "
                         "hpo run")
    return study, parse_space(text, str(study.user_attrs.get(attrs.SPACE_PATH, name)))


def top_trials(study: optuna.Study, k: int) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` best COMPLETE trials by search score (ties: lower trial number first)."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None]
    done.sort(key=lambda t: (-sign * float(t.value), t.number))  # type: ignore[arg-type]
    return done[:k]


def finalize_space_text(spec: SearchSpec, name: str, data: dict[str, Any], trials: int) -> str:
    """The finalize study's space: the search's, with seed, fifo, ``value: last`` and data."""
    import yaml

    doc = yaml.safe_load(spec.text)
    doc["name"] = name
    doc["description"] = f"finalize of {spec.name or spec.source}: top configs over seeds"
    doc["data"] = data
    doc["scheduler"] = {"name": "fifo"}
    # Only enqueued trials run; the sampler would only matter if one were lost.
    doc["sampler"] = {"name": "random", "options": {"seed": 0}}
    objective = dict(doc.get("objective") or {})
    objective["value"] = "last"
    doc["objective"] = objective
    budget = dict(doc.get("budget") or {})
    budget.pop("time", None)  # full fidelity: no run is cut short by the search's limits
    budget.pop("trial_time", None)
    budget["trials"] = trials
    doc["budget"] = budget
    params = dict(doc.get("params") or {})
    params[SEED_PARAM] = {"type": "int", "low": 0, "high": SEED_HIGH}
    doc["params"] = params
    return yaml.safe_dump(doc, sort_keys=False)


def finalize(
    study_name: str,
    *,
    storage: str | None = None,
    top_k: int = 5,
    seeds: int = 5,
    pick_by: str = "mean",
    selection_size: int | float | None = None,
    selection_source: str | None = None,
    concurrency: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    time_budget: float | None = None,
) -> FinalizeResult:
    """Re-run the top ``top_k`` configs of ``study_name`` with ``seeds`` seeds and pick one.

    Args:
        pick_by: ``mean`` (best mean) or ``lower`` (best pessimistic end of the 95 %
            interval).
        selection_size: examples (or a fraction of the training data) in the
            selection split; default as many as the validation split.
        selection_source: a file or folder to score on instead of a carved split.

    Raises:
        KeyError: no such study. ValueError: bad arguments or no COMPLETE trial.
    """
    from hpo.shipping.interval import PICKS
    from hpo.shipping.selection import default_selection_size, selection_data
    from hpo.spaces import parse_space
    from hpo.storage import attrs, resolve_url

    if pick_by not in PICKS:
        raise ValueError(f"--pick: choose one of {', '.join(PICKS)}, got {pick_by!r}")
    if top_k < 1 or seeds < 1:
        raise ValueError(f"--top-k and --seeds must be >= 1, got {top_k!r} and {seeds!r}")
    url = resolve_url(storage)
    study, spec = load_search(study_name, url)
    top = top_trials(study, top_k)
    if not top:
        raise ValueError(f"study {study_name!r} has no COMPLETE trial to finalize")
    if selection_size is None and selection_source is None:
        selection_size = default_selection_size(study.user_attrs.get(attrs.DATA) or {})
    data, selection = selection_data(spec.trainable, spec.data, size=selection_size,
                                     source=selection_source)
    seed_list = tuple(range(seeds))
    fin_name = keys.finalize_study_name(study_name)
    pairs = [(t, s) for t in top for s in seed_list]
    fin_study, reused, total = _prepare_finalize_study(
        fin_name, url, spec, data, pairs, study_name)
    fin_spec = parse_space(finalize_space_text(spec, fin_name, data, total),
                           f"{spec.source} (finalize)")
    # While it runs, an earlier finished finalize stays readable (and exportable).
    prior = study.user_attrs.get(keys.FINALIZE)
    prior = prior if isinstance(prior, dict) and "candidates" in prior else {"study": fin_name}
    study.set_user_attr(keys.FINALIZE, {**prior, "running": {
        "study": fin_name, "pick_by": pick_by, "seeds": list(seed_list),
        "top_k": len(top), "started_at": time.time()}})
    from hpo.execution import run_search

    run_search(fin_spec, study_name=fin_name, storage=url, trials=total,
               concurrency=concurrency, progress=progress, ray_address=ray_address,
               score_test=False, seed=0, time_budget=time_budget)
    result = collect(study, fin_study.study_name, url, top, seed_list, pick_by, selection,
                     spec.objective.direction, reused)
    study.set_user_attr(keys.FINALIZE, result.record())
    return result


def _prepare_finalize_study(name: str, url: str, spec: SearchSpec, data: dict[str, Any],
                            pairs: list[tuple[Any, int]], search: str
                            ) -> tuple[optuna.Study, int, int]:
    """Create (or reuse) the finalize study and enqueue the pairs it has not run yet.

    Returns:
        The study, how many pairs were already finished, and the study's trial budget
        (what it already used plus what was enqueued now).
    """
    import optuna
    from optuna.trial import TrialState

    from hpo.spaces import parse_space
    from hpo.storage import attrs, open_storage

    store = open_storage(url)
    probe = parse_space(finalize_space_text(spec, name, data, 1), "finalize")
    try:
        fin = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        fin = None
    if fin is not None and fin.user_attrs.get(attrs.FINGERPRINT) not in (
            None, probe.fingerprint()):
        # A derived study made with another selection split: its scores are not comparable.
        optuna.delete_study(study_name=name, storage=store)
        fin = None
    if fin is None:
        fin = optuna.create_study(study_name=name, storage=store,
                                  direction=spec.objective.direction)  # type: ignore[arg-type]
    fin.set_user_attr(keys.FINALIZE_OF, search)
    have: set[tuple[int, int]] = set()
    used = 0
    for t in fin.get_trials(deepcopy=False):
        key = (t.user_attrs.get(keys.CANDIDATE), t.user_attrs.get(keys.SEED))
        # What the runner counts toward a study's budget: every trial but waiting ones
        # and orphans (failed because their driver died).
        if t.state != TrialState.WAITING and not t.user_attrs.get(attrs.ORPHANED):
            used += 1
        if t.state in (TrialState.COMPLETE, TrialState.WAITING) and None not in key:
            have.add(key)  # type: ignore[arg-type]
    reused = enqueued = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for trial, seed in pairs:
            if (trial.number, seed) in have:
                reused += 1
                continue
            fin.enqueue_trial({**trial.params, SEED_PARAM: seed},
                              user_attrs={keys.CANDIDATE: trial.number, keys.SEED: seed})
            enqueued += 1
    waiting = sum(1 for t in fin.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    return fin, reused, used + waiting


def collect(study: optuna.Study, fin_name: str, url: str, top: list[Any],
            seed_list: tuple[int, ...], pick_by: str, selection: dict[str, Any],
            direction: str, reused: int = 0) -> FinalizeResult:
    """Summarise the finalize study's COMPLETE trials per candidate and make the pick."""
    import optuna
    from optuna.trial import TrialState

    from hpo.storage import open_storage

    fin = optuna.load_study(study_name=fin_name, storage=open_storage(url))
    by_trial: dict[int, list[tuple[int, float]]] = {}
    for t in fin.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        cand, seed = t.user_attrs.get(keys.CANDIDATE), t.user_attrs.get(keys.SEED)
        if cand is None or seed not in seed_list or t.value is None:
            continue
        by_trial.setdefault(int(cand), []).append((t.number, float(t.value)))
    sign = 1.0 if direction == "maximize" else -1.0
    candidates = []
    for trial in top:
        runs = by_trial.get(trial.number, [])
        scores = tuple(v for _, v in runs)
        candidates.append(Candidate(
            trial=trial.number, params=dict(trial.params), search_score=float(trial.value),
            scores=scores, interval=summarise(scores) if scores else None,
            finalize_trials=tuple(n for n, _ in runs)))
    ranked = [c for c in candidates if c.interval is not None]
    picked = max(ranked, key=lambda c: (pick_key(c.interval, pick_by, sign),  # type: ignore[arg-type]
                                        sign * c.search_score)) if ranked else None
    return FinalizeResult(study=study.study_name, finalize_study=fin_name, pick_by=pick_by,
                          seeds=seed_list, direction=direction, candidates=tuple(candidates),
                          picked=picked, selection=selection, reused=reused)
