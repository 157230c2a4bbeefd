"""Method (a): hpo with the shipped space a user would take for the task.

The space file is used as shipped (sampler, scheduler, concurrency, ranges); only what
the comparison fixes is replaced: the data section (the task's splits), the input size,
the time budget (trials unbounded, so the budget ends the search) and the sampler seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks._peers.outcome import Outcome
from benchmarks._peers.tasks import ROOT, Task

#: Trials cap: large enough that the time budget, not the count, ends a full search.
UNBOUNDED_TRIALS = 10_000
QUICK_TRIALS = 2


def build_space(task: Task, budget: float, seed: int, quick: bool) -> Any:
    """The shipped space for ``task`` with the comparison's data, input size and budget."""
    import yaml

    from hpo.spaces import parse_space

    doc = yaml.safe_load((ROOT / task.space).read_text())
    doc["name"] = f"bench-{task.name}"
    doc["model"] = dict(task.model)
    doc["data"] = dict(task.data)
    doc["params"].update(task.fixed)
    doc.setdefault("sampler", {}).setdefault("options", {})["seed"] = seed
    budget_doc = dict(doc.get("budget", {}))
    budget_doc.update(time=budget, trials=QUICK_TRIALS if quick else UNBOUNDED_TRIALS)
    if quick:  # one epoch, two reports, a rung after the first
        doc["params"].update(epochs=1, evals_per_epoch=2)
        budget_doc["max_steps"] = 2
        doc.setdefault("scheduler", {}).setdefault("options", {})["grace_period"] = 1
    doc["budget"] = budget_doc
    return parse_space(yaml.safe_dump(doc, sort_keys=False), f"{task.space} ({task.name})")


def search(task: Task, budget: float, seed: int, quick: bool, workdir: Path) -> Outcome:
    import optuna

    from hpo.execution import run_search
    from hpo.spaces import config_from_params
    from hpo.storage import attrs, open_storage

    spec = build_space(task, budget, seed, quick)
    url = f"sqlite:///{workdir / 'hpo.db'}"
    name = f"bench-{task.name}-{seed}"
    t0 = time.perf_counter()
    result = run_search(spec, study_name=name, storage=url, time_budget=budget, overwrite=True,
                        score_test=False, progress=False, seed=seed)
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        # hpo ranks COMPLETE trials only; a budget that cut every trial leaves no pick.
        raise RuntimeError(f"hpo: no trial of {len(study.trials)} completed within the "
                           f"{budget:.0f} s budget ({result.pruned} pruned, "
                           f"{result.failed} failed)")
    best = study.best_trial
    return Outcome(
        trials=int(result.started), search_seconds=wall,
        best_validation=None if best.value is None else float(best.value),
        config=config_from_params(spec, best.params),
        notes={"best_step": int(best.user_attrs[attrs.BEST_STEP]), "trial": best.number,
               "complete": result.complete, "pruned": result.pruned, "failed": result.failed,
               "space": task.space})


def retrain(task: Task, outcome: Outcome, seed: int, threads: int, quick: bool) -> float:
    """hpo's own retrain: the pick's config with ``seed`` up to its best step, test once."""
    metrics = task.builtin().score_test(
        outcome.config, task.model, task.data, seed=seed, step=int(outcome.notes["best_step"]),
        threads=threads)
    return float(metrics["accuracy"])
