"""Does finalizing pick a better config than the search's best trial? Measured side by side.

1. Runs the search of SPACE (by default ``benchmarks/spaces/text_1000.yaml``: MiniLM-L6
   on 1,000 Rotten Tomatoes snippets, 400 validation, 3,000 test), a fresh study each time.
2. Finalizes it (``hpo finalize``: the top --top-k configs over --seeds seeds, scored on a
   selection split carved from the unused training pool; --pick mean or lower).
3. Retrains three configs with each of --seeds seeds at full fidelity and scores each once
   on the test split: (a) the finalized pick, (b) the plain best trial of the same search,
   (c) the default recipe (as ``benchmarks/recipe_vs_search.py`` defines it).
4. Prints each one's test accuracy as a mean with a 95 % t interval over seeds, the
   paired differences, and the optimism: search score minus selection score (finalize's
   figure) and search score minus test score, for the pick and for the plain best trial.

Run it alone on a quiet machine (it trains 25 + 15 full runs after the search)::

    python -m benchmarks.finalize_pick --out benchmarks/results/finalize_pick.jsonl
    python -m benchmarks.finalize_pick --train-size 60 --validation-size 40 --test-size 60 \\
        --trials 2 --top-k 2 --seeds 2 --epochs 1          # a tiny smoke setting
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

DEFAULT_SPACE = str(Path(__file__).resolve().parent / "spaces" / "text_1000.yaml")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("space", nargs="?", default=DEFAULT_SPACE)
    p.add_argument("--train-size", type=int)
    p.add_argument("--validation-size", type=int)
    p.add_argument("--test-size", type=int)
    p.add_argument("--trials", type=int)
    p.add_argument("--time-budget", type=float)
    p.add_argument("--epochs", type=int, help="override the space's fixed epochs (smoke runs)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--pick", choices=("mean", "lower"), default="mean")
    p.add_argument("--storage", default="sqlite:///hpo-results/finalize_pick.db")
    p.add_argument("--study", default=None)
    p.add_argument("--out", default=None,
                   help="append the result as one JSON line to this file (e.g. "
                        "benchmarks/results/finalize_pick.jsonl)")
    return p


def _spec(args: argparse.Namespace) -> Any:
    import yaml

    from hpo.execution._placement import placement_for
    from hpo.spaces import parse_space

    text = Path(args.space).read_text()
    doc = yaml.safe_load(text)
    for key in ("train_size", "validation_size", "test_size"):
        if getattr(args, key) is not None:
            doc["data"][key] = getattr(args, key)
    if args.epochs is not None:
        doc["params"]["epochs"] = args.epochs
        per = int(doc["params"].get("evals_per_epoch", 1))
        doc["budget"]["max_steps"] = args.epochs * per
        sched = doc.get("scheduler") or {}
        if isinstance(sched, dict) and "grace_period" in (sched.get("options") or {}):
            sched["options"]["grace_period"] = 1
    spec = parse_space(yaml.safe_dump(doc, sort_keys=False), args.space)
    # The placement the search's trials get here, written in: the retrains copy it.
    return placement_for(spec).apply(spec)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    import optuna

    from benchmarks.recipe_vs_search import RECIPES, retrain_all
    from hpo.execution import run_search
    from hpo.shipping.finalize import finalize
    from hpo.shipping.interval import summarise
    from hpo.spaces import config_from_params
    from hpo.storage import attrs, open_storage

    spec = _spec(args)
    name = args.study or f"{spec.name or 'search'}-pick"
    store = open_storage(args.storage)
    for old in (name, f"{name}-finalize"):  # a fresh search every time
        try:
            optuna.delete_study(study_name=old, storage=store)
        except KeyError:
            pass
    t0 = time.time()
    result = run_search(spec, study_name=name, storage=args.storage, trials=args.trials,
                        time_budget=args.time_budget, overwrite=True, score_test=False)
    search_s = time.time() - t0
    study = optuna.load_study(study_name=name, storage=store)
    print(f"search: {result.started} trials in {search_s:.0f} s; best validation accuracy "
          f"{study.best_value:.4f} (trial {study.best_trial.number}); data sizes "
          f"{study.user_attrs[attrs.DATA].get('sizes')}", flush=True)
    t1 = time.time()
    fin = finalize(name, storage=args.storage, top_k=args.top_k, seeds=args.seeds,
                   pick_by=args.pick, progress=True)
    finalize_s = time.time() - t1
    from hpo.cli._ship import print_finalize

    print_finalize(fin)
    assert fin.picked is not None, "no finalist finished a run"
    trials = {t.number: t for t in study.trials}
    best = study.best_trial

    def full(cfg: dict[str, Any]) -> int:  # every report a full run makes
        return int(cfg.get("epochs", 3)) * int(cfg.get("evals_per_epoch", 1))

    picked_cfg = config_from_params(spec, trials[fin.picked.trial].params)
    best_cfg = config_from_params(spec, best.params)
    recipe = {k: v for k, v in {**best_cfg, **RECIPES[spec.trainable]}.items()
              if k in RECIPES[spec.trainable] or k in ("max_length", "image_size")}
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    recipe_steps = int(recipe["epochs"]) * int(recipe.get("evals_per_epoch", 1))
    seeds = list(range(100, 100 + args.seeds))  # not the finalize seeds
    print(f"retraining (a) the finalized pick (trial {fin.picked.trial}), (b) the best trial "
          f"({best.number}) and (c) the default recipe with seeds {seeds}:", flush=True)
    t2 = time.time()
    scores = retrain_all(spec, {"finalized pick": (picked_cfg, full(picked_cfg)),
                                "best trial": (best_cfg, full(best_cfg)),
                                "default recipe": (recipe, recipe_steps)},
                         seeds, max(1, spec.concurrency))
    retrain_s = time.time() - t2
    out: dict[str, Any] = {"search_s": search_s, "finalize_s": finalize_s,
                           "retrain_s": retrain_s, "picks": {}}
    for label, values in scores.items():
        iv = summarise(values)
        out["picks"][label] = dataclasses.asdict(iv)
        print(f"{label:<15} test accuracy {iv.mean:.4f} ± {iv.half_width:.4f} "
              f"[{iv.low:.4f}, {iv.high:.4f}] (95 % over {iv.n} seeds)")
    for a, b in (("finalized pick", "best trial"), ("finalized pick", "default recipe"),
                 ("best trial", "default recipe")):
        diff = summarise([x - y for x, y in zip(scores[a], scores[b])])
        out[f"{a} - {b}"] = dataclasses.asdict(diff)
        print(f"{a} - {b}: {diff.mean:+.4f} ± {diff.half_width:.4f} (paired by seed)")
    pick_test = summarise(scores["finalized pick"]).mean
    best_test = summarise(scores["best trial"]).mean
    out["optimism"] = {"pick_selection": fin.optimism,
                       "pick_test": fin.picked.search_score - pick_test,
                       "best_test": float(best.value) - best_test}  # type: ignore[arg-type]
    print(f"optimism: finalized pick search - selection {fin.optimism:+.4f}, search - test "
          f"{out['optimism']['pick_test']:+.4f}; best trial search - test "
          f"{out['optimism']['best_test']:+.4f}")
    print(f"times: search {search_s:.0f} s, finalize {finalize_s:.0f} s, retrains "
          f"{retrain_s:.0f} s, total {time.time() - t0:.0f} s")
    if args.out:
        _append(Path(args.out), args, out)
    return out


def _append(path: Path, args: argparse.Namespace, out: dict[str, Any]) -> None:
    import json
    import os
    import platform

    import optuna
    import ray
    import torch

    line = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "args": vars(args), "machine": f"{platform.node()} ({os.cpu_count()} cpus)",
            "versions": {"optuna": optuna.__version__, "ray": ray.__version__,
                         "torch": torch.__version__}, **out}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(line, default=str) + "\n")


if __name__ == "__main__":
    main()
