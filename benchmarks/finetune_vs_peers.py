"""hpo against the tools a user would otherwise wire up, at the same wall-clock budget.

Methods, run one at a time on the same machine, each in a process of its own:

* ``hpo``: hpo with the shipped space for the task (``search_spaces/``);
* ``ray``: Ray Tune as its docs show it (``Tuner`` + ``OptunaSearch`` TPE + ``ASHAScheduler``,
  Ray's defaults otherwise) around a plain PyTorch loop;
* ``trainer``: ``transformers`` ``Trainer.hyperparameter_search(backend="optuna")`` with
  its default space;
* ``recipe``: the default recipe (full fine-tuning, lr 5e-5, linear, batch 32, 3 epochs,
  no augmentation; images: the project's lr 1e-3 cosine recipe), no search.

Each search gets the same ``--budget`` of wall time; its pick is retrained with every
``--retrain-seeds`` seed (one retrain at a time, ``--retrain-threads`` torch threads) and
scored once on a test split no search saw. All methods read the same splits through
hpo's loaders. Tasks: ``rt`` (MiniLM-L6, Rotten Tomatoes, 1,000 train / 400 validation /
3,000 test), ``fmnist`` (EfficientNet-Lite0, Fashion-MNIST, 1,000 / 400 / the official
10,000 test images, 64 px) and ``fortunes`` (MiniLM-L6, Debian's ``fortunes``: 29
classes, texts up to 128 tokens, 1,000 / 400 / 3,000). Every run appends one JSON line
to ``--results``; ``--summary`` prints the table the README carries::

    python benchmarks/finetune_vs_peers.py --task rt --method hpo,ray --budget 600 --seed 0,1,2
    python benchmarks/finetune_vs_peers.py --summary
    python benchmarks/finetune_vs_peers.py --quick        # every task and method on tiny data

A change to hpo's space is tried as a variant, from a file of its own, so the shipped
space stays what the shipped rows measured::

    python benchmarks/finetune_vs_peers.py --task rt --method hpo --seed 0,1,2 \
        --space /tmp/text_3_epochs.yaml --variant "3 epochs"
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks._peers.results import (  # noqa: E402
    BUDGET_TOLERANCE,
    METHODS,
    append_line,
    environment,
    read_lines,
    summary_table,
)
from benchmarks._peers.tasks import TASKS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "finetune_vs_peers.jsonl"
QUICK_RESULTS = ROOT / "benchmarks" / "results" / "quick.jsonl"
# Quick searches end after two trials; the budget is only a guard, wide enough for a
# heavily loaded machine (two tiny hpo trials took 216 s with the load average at 15-20).
QUICK_BUDGET = 900.0


def _names(value: str, known: tuple[str, ...], flag: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(f"{flag}: unknown {unknown or value!r}; known: {', '.join(known)}")
    return names


def _ints(value: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{flag}: expected integers separated by commas, got {value!r}") \
            from None


def _method(name: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks._peers.{name}_method")


def run_one(task_name: str, method: str, budget: float, seed: int, retrain_seeds: list[int],
            threads: int, quick: bool, results: Path, variant: str = "",
            space: Path | None = None, keep: Path | None = None) -> dict[str, Any]:
    """One search of one method and its retrains; appends and returns the record.

    ``space``: hpo's space file instead of the task's shipped one (a variant).
    ``keep``: a folder to keep each search's working files in (else a temp folder).
    """
    from benchmarks._peers.tasks import get_task

    task = get_task(task_name, quick=quick)
    if space is not None:
        # Recorded in the results: relative to the checkout when inside it, so lines
        # from different clones name the same file alike.
        resolved = space.resolve()
        shown = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved
        task = dataclasses.replace(task, space=str(shown))
    module = _method(method)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with contextlib.ExitStack() as stack:
        if keep is None:
            workdir = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"bench-{task_name}-{method}-")))
        else:  # the search's own records (hpo's study, Ray's results) stay for a look
            workdir = keep / f"{task_name}-{method}-seed{seed}-{started[:19].replace(':', '')}"
            workdir.mkdir(parents=True)
        outcome = module.search(task, budget, seed, quick, workdir)
        print(f"[{task_name}/{method}/seed {seed}] search: {outcome.trials} trials in "
              f"{outcome.search_seconds:.1f} s (budget {budget:.0f} s); best validation "
              f"{outcome.best_validation}; pick {outcome.config}", flush=True)
        accs, secs = [], []
        for retrain_seed in retrain_seeds:
            t0 = time.perf_counter()
            accs.append(module.retrain(task, outcome, retrain_seed, threads, quick))
            secs.append(time.perf_counter() - t0)
            print(f"[{task_name}/{method}/seed {seed}] retrain seed {retrain_seed}: test "
                  f"accuracy {accs[-1]:.4f} ({secs[-1]:.1f} s)", flush=True)
    record = {
        "date": started, "task": task_name, "method": method, "quick": quick,
        "budget_s": budget, "search_seed": seed, "search_seconds": outcome.search_seconds,
        "within_budget": method == "recipe"
        or outcome.search_seconds <= (1 + BUDGET_TOLERANCE) * budget,
        "trials": outcome.trials, "best_validation": outcome.best_validation,
        "config": outcome.config, "notes": outcome.notes, "retrain_seeds": retrain_seeds,
        "retrain_threads": threads, "test_accuracy": accs, "retrain_seconds": secs,
        "data": task.data, "fixed": task.fixed, "model": task.model, **environment(),
    }
    if variant:
        record["variant"] = variant
    if keep is not None:
        record["workdir"] = str(workdir)
    if method == "hpo":  # which space file, and its text, so a variant can be rerun
        record["space_text"] = (ROOT / task.space).read_text()
    append_line(results, record)
    return record


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=",".join(TASKS),
                        help="comma list of " + ", ".join(TASKS))
    parser.add_argument("--method", default=",".join(METHODS),
                        help="comma list of " + ", ".join(METHODS))
    parser.add_argument("--budget", type=float, help="seconds of search per method "
                        f"(default 600; {QUICK_BUDGET:.0f} with --quick)")
    parser.add_argument("--seed", default="0", help="search seed(s), comma list")
    parser.add_argument("--retrain-seeds", default="0,1,2")
    parser.add_argument("--retrain-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true",
                        help="tiny data, one epoch, two trials: checks every path in seconds")
    parser.add_argument("--results", type=Path,
                        help=f"JSON-lines file (default {RESULTS.relative_to(ROOT)}; "
                             f"{QUICK_RESULTS.relative_to(ROOT)} with --quick)")
    parser.add_argument("--variant", default="",
                        help="label for runs of a change tried against the shipped setup "
                             "(e.g. an edited space); they get a summary row of their own")
    parser.add_argument("--space", type=Path,
                        help="hpo's space file instead of the task's shipped one; needs "
                             "--variant, so its runs never count as the shipped space's")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each search's working files (hpo's study database, "
                             "Ray's results) in a folder of its own under DIR")
    parser.add_argument("--summary", action="store_true", help="print the table and exit")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    results = args.results or (QUICK_RESULTS if args.quick else RESULTS)
    if args.summary:
        if not results.exists():
            raise SystemExit(f"--summary: {results} does not exist yet; run a method first")
        print(summary_table(read_lines([results])))
        return
    if args.space is not None:
        if not args.variant:
            raise SystemExit("--space: needs --variant LABEL (runs of another space get a "
                             "row of their own, apart from the shipped space's)")
        if not args.space.is_file():
            raise SystemExit(f"--space: {args.space} is not a file")
    tasks = _names(args.task, TASKS, "--task")
    methods = _names(args.method, METHODS, "--method")
    seeds = _ints(args.seed, "--seed")
    retrain_seeds = _ints(args.retrain_seeds, "--retrain-seeds")
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if args.quick else 600.0)
    if budget <= 0:
        raise SystemExit(f"--budget: must be > 0 seconds, got {budget!r}")
    combos = [(t, m, s) for t in tasks for m in methods
              for s in (seeds if m != "recipe" else seeds[:1])]
    if args.in_process:
        for task, method, seed in combos:
            run_one(task, method, budget, seed, retrain_seeds, args.retrain_threads,
                    args.quick, results, args.variant, args.space, args.keep)
        return
    for task, method, seed in combos:  # each in its own process: threads, Ray, memory
        cmd = [sys.executable, str(Path(__file__).resolve()), "--in-process", "--task", task,
               "--method", method, "--seed", str(seed), "--budget", str(budget),
               "--retrain-seeds", ",".join(map(str, retrain_seeds)),
               "--retrain-threads", str(args.retrain_threads), "--results", str(results)]
        if args.quick:
            cmd.append("--quick")
        if args.variant:
            cmd += ["--variant", args.variant]
        if args.space is not None:
            cmd += ["--space", str(args.space.resolve())]
        if args.keep is not None:
            cmd += ["--keep", str(args.keep.resolve())]
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            raise SystemExit(f"{task}/{method}/seed {seed} failed (command: {' '.join(cmd)})")
    print(summary_table([r for r in read_lines([results])
                         if r["task"] in tasks and bool(r.get("quick")) == args.quick]))
    print(json.dumps({"results": str(results)}))


if __name__ == "__main__":
    main()
