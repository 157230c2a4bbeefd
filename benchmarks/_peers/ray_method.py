"""Method (b): Ray Tune wired as its documentation shows.

``Tuner`` + stock ``OptunaSearch`` (TPE) + ``ASHAScheduler``, metric and mode in
``TuneConfig``, the budget as ``time_budget_s`` with unlimited samples, Ray's defaults
otherwise (one CPU per trial, as many trials at once as CPUs, no actor reuse). Each trial
runs the plain PyTorch loop (:mod:`benchmarks._peers.plain_loop`), evaluating once per
epoch and reporting with ``tune.report``; the ranges are those of the shipped hpo space
for the parameters a plain loop has. The pick is ``ResultGrid.get_best_result()``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._peers.outcome import Outcome
from benchmarks._peers.plain_loop import LoopConfig, accuracy, cached_data, train_plain
from benchmarks._peers.tasks import ROOT, Task, get_task

QUICK_SAMPLES = 2
_LOOP_KEYS = ("learning_rate", "batch_size", "weight_decay", "warmup_ratio", "lr_schedule")


def param_space(task: Task) -> dict[str, Any]:
    from ray import tune

    if task.kind == "image":
        space = {"learning_rate": tune.loguniform(1e-4, 1e-2), "batch_size": 32,
                 "weight_decay": tune.uniform(0.0, 0.05), "warmup_ratio": tune.uniform(0.0, 0.2),
                 "lr_schedule": "cosine"}
    else:
        space = {"learning_rate": tune.loguniform(2e-5, 5e-4),
                 "batch_size": tune.choice([16, 32]), "weight_decay": tune.uniform(0.0, 0.1),
                 "warmup_ratio": tune.uniform(0.0, 0.2),
                 "lr_schedule": tune.choice(["linear", "cosine"])}
    return space


def loop_config(task: Task, config: dict[str, Any], seed: int, threads: int | None
                ) -> LoopConfig:
    return LoopConfig(learning_rate=float(config["learning_rate"]),
                      batch_size=int(config["batch_size"]), epochs=task.epochs,
                      weight_decay=float(config["weight_decay"]),
                      warmup_ratio=float(config["warmup_ratio"]),
                      lr_schedule=str(config["lr_schedule"]), seed=seed, threads=threads)


def ray_trial(config: dict[str, Any]) -> None:
    """The trainable Ray runs: the plain loop, reporting validation accuracy per epoch."""
    from ray import tune

    task = get_task(config["task"], quick=config["quick"])
    data = cached_data(config["task"], config["quick"])
    train_plain(task, data, loop_config(task, config, int(config["seed"]), None),
                on_eval=lambda _n, acc: tune.report({"accuracy": acc}))


def search(task: Task, budget: float, seed: int, quick: bool, workdir: Path) -> Outcome:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    # Ray's workers import this package by name, so they need the checkout on their path.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    space = {**param_space(task), "task": task.name, "quick": quick, "seed": seed}
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths
    t0 = time.perf_counter()
    # address="local": a fresh instance like a user's first ``ray.init()``, never a cluster
    # some other process on this machine started with ``ray start``.
    ray.init(address="local", include_dashboard=False, _temp_dir=temp_dir)
    try:
        tuner = tune.Tuner(
            ray_trial, param_space=space,
            tune_config=tune.TuneConfig(
                metric="accuracy", mode="max", search_alg=OptunaSearch(seed=seed),
                scheduler=ASHAScheduler(max_t=task.epochs),
                num_samples=QUICK_SAMPLES if quick else -1, time_budget_s=budget),
            run_config=tune.RunConfig(storage_path=str(workdir / "ray"), verbose=0))
        grid = tuner.fit()
    finally:
        ray.shutdown()
    wall = time.perf_counter() - t0
    shutil.rmtree(temp_dir, ignore_errors=True)
    if not any("accuracy" in (grid[i].metrics or {}) for i in range(len(grid))):
        raise RuntimeError(f"Ray Tune: no trial of {len(grid)} reported accuracy within the "
                           f"{budget:.0f} s budget ({len(grid.errors)} errored)")
    best = grid.get_best_result()
    metrics, config = best.metrics or {}, best.config or {}
    return Outcome(
        trials=len(grid), search_seconds=wall, best_validation=float(metrics["accuracy"]),
        config={k: config[k] for k in _LOOP_KEYS},
        notes={"errors": len(grid.errors),
               "best_iterations": int(metrics.get("training_iteration", 0))})


def retrain(task: Task, outcome: Outcome, seed: int, threads: int, quick: bool) -> float:
    """The pick's config through the same plain loop, all epochs, test scored once."""
    data = cached_data(task.name, quick)
    result = train_plain(task, data, loop_config(task, outcome.config, seed, threads))
    return accuracy(result.model, data, "test")
