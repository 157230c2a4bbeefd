"""Does a search beat the default recipe on held-out test data? Measured side by side.

1. Runs a search (the space's own budget, or --trials / --time-budget) with the
   data resized by --train-size / --validation-size / --test-size.
2. Retrains the search's best config and the default recipe (full fine-tuning,
   batch 32, 3 epochs, weight decay 0.01, no augmentation; text: lr 5e-5, linear
   schedule; image: lr 1e-3, cosine schedule) with each of --seeds seeds, scores
   each once on the test split,
   and prints test accuracy as mean with a 95% t-interval over seeds, plus the
   difference.

The spaces in ``benchmarks/spaces/`` are the ones measured (each holds its sizes and
budget)::

    python benchmarks/recipe_vs_search.py benchmarks/spaces/text_1000.yaml
    python benchmarks/recipe_vs_search.py benchmarks/spaces/image_1000.yaml

Any space works with the sizes and budget given on the command line::

    python benchmarks/recipe_vs_search.py search_spaces/text_finetune.yaml \\
        --train-size 1000 --validation-size 400 --test-size 3000 --trials 20 --time-budget 1800
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from typing import Any

# Student t quantiles (0.975) by degrees of freedom, for 95% intervals over seeds.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262}

RECIPES = {
    "text_classification": {"learning_rate": 5e-5, "lr_schedule": "linear", "batch_size": 32,
                            "epochs": 3, "weight_decay": 0.01, "warmup_ratio": 0.0,
                            "evals_per_epoch": 1},
    "image_classification": {"learning_rate": 1e-3, "lr_schedule": "cosine", "batch_size": 32,
                             "epochs": 3, "weight_decay": 0.01, "evals_per_epoch": 1},
}


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    half = _T975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def _score(job: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], int, int, int]
           ) -> dict[str, float]:
    from hpo.trainables import resolve_trainable

    name, config, model, data, seed, step, threads = job
    return resolve_trainable(name).score_test(config, model, data, seed=seed, step=step,
                                              threads=threads)


def retrain_all(spec: Any, runs: dict[str, tuple[dict[str, Any], int]], seeds: list[int],
                parallel: int) -> dict[str, list[float]]:
    """Test accuracy of each named (config, step) retrained with each seed.

    ``parallel`` retrains run side by side in separate processes, each with the
    thread count a trial had, so each retrain is the one a trial would run.
    """
    import concurrent.futures
    import multiprocessing

    threads = max(1, int(spec.resources.cpu))
    jobs = {(label, seed): (spec.trainable, config, spec.model, spec.data, seed, step, threads)
            for label, (config, step) in runs.items() for seed in seeds}
    scores: dict[str, list[float]] = {label: [] for label in runs}
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(parallel, mp_context=ctx) as pool:
        futures = {key: pool.submit(_score, job) for key, job in jobs.items()}
        for (label, seed), future in futures.items():  # in submission order
            metrics = future.result()
            scores[label].append(metrics["accuracy"])
            print(f"    {label}, seed {seed}: test accuracy {metrics['accuracy']:.4f} "
                  f"({int(metrics['examples'])} examples)", flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space")
    parser.add_argument("--train-size", type=int)
    parser.add_argument("--validation-size", type=int)
    parser.add_argument("--test-size", type=int)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--time-budget", type=float)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--storage", default="sqlite:///hpo-results/recipe_vs_search.db")
    parser.add_argument("--study", default=None)
    args = parser.parse_args()

    from hpo.execution import run_search
    from hpo.execution._placement import placement_for
    from hpo.spaces import config_from_params, load_space
    from hpo.storage import attrs, open_storage
    spec = load_space(args.space)
    data = dict(spec.data)
    for key in ("train_size", "validation_size", "test_size"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    spec = dataclasses.replace(spec, data=data)
    # The placement the search's trials get here, written in: the retrains copy it.
    spec = placement_for(spec).apply(spec)
    name = args.study or f"{spec.name or 'search'}-vs-recipe"
    import optuna

    try:  # a fresh search every time: the same space would otherwise resume the study
        optuna.delete_study(study_name=name, storage=open_storage(args.storage))
        print(f"deleted the earlier study {name!r} in {args.storage}")
    except KeyError:
        pass
    t0 = time.time()
    result = run_search(spec, study_name=name, storage=args.storage, trials=args.trials,
                        time_budget=args.time_budget, overwrite=True, score_test=False)
    search_s = time.time() - t0
    study = optuna.load_study(study_name=name, storage=open_storage(args.storage))
    best = study.best_trial
    best_config = config_from_params(spec, best.params)
    best_step = int(best.user_attrs[attrs.BEST_STEP])
    recipe = {**best_config, **RECIPES[spec.trainable]}
    for key in list(recipe):  # the recipe has no strategy or augmentation choices
        if key not in RECIPES[spec.trainable] and key not in ("max_length", "image_size"):
            recipe.pop(key)
    recipe_steps = int(recipe["epochs"]) * int(recipe.get("evals_per_epoch", 1))
    seeds = list(range(args.seeds))

    print(f"search: {result.started} trials in {search_s:.0f} s ({result.complete} complete, "
          f"{result.pruned} pruned, {result.failed} failed); best validation accuracy "
          f"{best.value:.4f} (trial {best.number}, step {best_step})")
    print(f"data sizes: {study.user_attrs[attrs.DATA].get('sizes')}")
    print(f"best config: {best_config}")
    print(f"retraining the search's best config and the default recipe "
          f"{RECIPES[spec.trainable]}, {spec.concurrency} at a time:")
    scores = retrain_all(spec, {"search's best": (best_config, best_step),
                                "default recipe": (recipe, recipe_steps)},
                         seeds, max(1, spec.concurrency))
    found, default = scores["search's best"], scores["default recipe"]
    for label, scores in (("search's best", found), ("default recipe", default)):
        mean, half = interval(scores)
        print(f"{label:<15} test accuracy {mean:.4f} ± {half:.4f} (95% over {len(scores)} seeds)")
    diff_mean, diff_half = interval([a - b for a, b in zip(found, default)])
    print(f"difference      {diff_mean:+.4f} ± {diff_half:.4f} (paired by seed); "
          f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
