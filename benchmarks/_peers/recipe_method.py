"""Method (d): the default recipe, no search.

Text: full fine-tuning, lr 5e-5, linear schedule, batch 32, 3 epochs, weight decay 0.01,
no augmentation (``transformers``' defaults, batch 32). Image: the project's image recipe
from ``benchmarks/recipe_vs_search.py`` (lr 1e-3, cosine): at 5e-5 an ImageNet CNN's new
head barely moves in 3 epochs of 1,000 images, which would make the recipe a straw man.
Trained through hpo's built-in trainable (the same code the search's pick retrains with).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks._peers.outcome import Outcome
from benchmarks._peers.tasks import Task


def recipe_config(task: Task) -> dict[str, Any]:
    from benchmarks.recipe_vs_search import RECIPES

    return {**RECIPES[task.trainable], **task.fixed, "epochs": task.epochs,
            "evals_per_epoch": 1}


def search(task: Task, budget: float, seed: int, quick: bool, workdir: Path) -> Outcome:
    return Outcome(trials=1, search_seconds=0.0, best_validation=None,
                   config=recipe_config(task), notes={"step": task.epochs})


def retrain(task: Task, outcome: Outcome, seed: int, threads: int, quick: bool) -> float:
    metrics = task.builtin().score_test(
        outcome.config, task.model, task.data, seed=seed, step=int(outcome.notes["step"]),
        threads=threads)
    return float(metrics["accuracy"])
