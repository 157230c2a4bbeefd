"""Training examples per second of one hpo trial against a plain PyTorch loop, side by side.

``compare`` (default): one trial of hpo's built-in text trainable (in-process, through
its trial context, no Ray) and the plain loop a user would write
(:mod:`benchmarks._peers.plain_loop`), same model, data, batch size, threads and epochs,
one after the other in fresh processes, ``--rounds`` times. The trial evaluates
``--evals-per-epoch`` times per epoch (the shipped spaces: 2), the plain loop
``--plain-evals-per-epoch`` times (a user's script: 1); its evaluations before an
epoch's end score the fixed validation subset (``rung_eval_size``), and the same trial
scoring the whole split every time runs beside them. Examples per second count
training examples over the time from the first batch to the last evaluation, so model
loading and tokenising are left out of both.

``--pair``: two trials at one thread each, side by side, against one trial at two
threads (``--threads`` is ignored): examples per second of the pair (the sum of the
two rates) over those of the single trial.

    python benchmarks/trial_throughput.py --threads 1 --epochs 3 --rounds 2
    python benchmarks/trial_throughput.py --pair --epochs 3
    python benchmarks/trial_throughput.py --quick          # tiny data, a few seconds each
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

#: ``hpo-whole``: the same trial scoring the whole validation split at every evaluation
#: (``rung_eval_size: null``, as before rung-only evaluations used a subset);
#: ``hpo-grouped``: the same trial with ``group_by_length: true`` (batches of similar
#: lengths, so fewer padded tokens; not the same batches as the plain loop's).
ENGINES = ("hpo", "hpo-whole", "hpo-grouped", "plain")


def _task(args: argparse.Namespace) -> Any:
    from benchmarks._peers.tasks import get_task

    return get_task(args.task, quick=args.quick)


def run_hpo(args: argparse.Namespace, threads: int, whole: bool = False,
            grouped: bool = False) -> dict[str, float]:
    """One trial of the built-in text trainable, outside Ray (``whole``: every evaluation
    on the whole validation split; ``grouped``: batches grouped by length)."""
    from hpo.trainables import TrialContext
    from hpo.trainables._context import use_context

    task = _task(args)
    config = {"learning_rate": 5e-5, "lr_schedule": "linear", "weight_decay": 0.01,
              "batch_size": args.batch_size, "epochs": args.epochs,
              "evals_per_epoch": args.evals_per_epoch, "threads": threads, **task.fixed}
    if whole:
        config["rung_eval_size"] = None
    if grouped:
        config["group_by_length"] = True
    ctx = TrialContext(seed=0, cpus=threads, model=task.model, data=task.data)
    with use_context(ctx):
        task.builtin().fit(config)
    last = ctx.history[-1]
    return {"examples": float(last["examples"]), "train_seconds": float(last["train_seconds"]),
            "validation": float(last["accuracy"]), "evaluations": float(len(ctx.history))}


def run_plain(args: argparse.Namespace, threads: int) -> dict[str, float]:
    """The plain PyTorch loop with the same model, data, batch, threads and epochs."""
    from benchmarks._peers.plain_loop import LoopConfig, load_plain_data, train_plain

    task = _task(args)
    data = load_plain_data(task)
    result = train_plain(task, data, LoopConfig(
        batch_size=args.batch_size, epochs=args.epochs, threads=threads,
        evals_per_epoch=args.plain_evals_per_epoch))
    return {"examples": float(result.examples), "train_seconds": result.train_seconds,
            "validation": result.validation[-1], "evaluations": float(len(result.validation))}


def _child_cmd(args: argparse.Namespace, engine: str, threads: int) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--engine", engine,
           "--threads", str(threads), "--task", args.task, "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--evals-per-epoch", str(args.evals_per_epoch),
           "--plain-evals-per-epoch", str(args.plain_evals_per_epoch)]
    return cmd + (["--quick"] if args.quick else [])


def _collect(proc: subprocess.Popen[str], what: str) -> dict[str, float]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{what} failed (exit {proc.returncode}):\n{err[-3000:]}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["per_s"] = result["examples"] / result["train_seconds"]
    return result


def _start(args: argparse.Namespace, engine: str, threads: int) -> subprocess.Popen[str]:
    return subprocess.Popen(_child_cmd(args, engine, threads), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    engines = [e for e in ENGINES if e in args.engines.split(",")]
    rows = []
    for round_no in range(1, args.rounds + 1):
        runs = {engine: _collect(_start(args, engine, args.threads), engine)
                for engine in engines}
        row: dict[str, Any] = {"round": round_no, **{
            f"{e.replace('-', '_')}_{k}": v for e in engines for k, v in runs[e].items()}}
        said = []
        for engine, run in runs.items():
            text = (f"{engine} {run['per_s']:.1f} examples/s ({run['train_seconds']:.1f} s, "
                    f"{run['evaluations']:.0f} evaluations, validation {run['validation']:.4f})")
            if engine != "plain":
                ratio = run["per_s"] / runs["plain"]["per_s"]
                row[f"{engine.replace('-', '_')}_ratio"] = ratio
                text += f", /plain {ratio:.3f} ({ratio - 1:+.1%})"
            said.append(text)
        rows.append(row)
        print(f"round {round_no} at {args.threads} thread(s): " + "; ".join(said), flush=True)
    return rows


def pair(args: argparse.Namespace) -> list[dict[str, Any]]:
    engine = args.pair_engine
    rows = []
    for round_no in range(1, args.rounds + 1):
        single = _collect(_start(args, engine, 2), f"{engine} at 2 threads")
        procs = [_start(args, engine, 1) for _ in range(2)]
        both = [_collect(p, f"{engine} at 1 thread") for p in procs]
        pair_rate = sum(r["per_s"] for r in both)
        ratio = pair_rate / single["per_s"]
        rows.append({"round": round_no, "single_per_s": single["per_s"],
                     "pair_per_s": pair_rate, "pair_each_per_s": [r["per_s"] for r in both],
                     "ratio": ratio})
        print(f"round {round_no} ({engine}): 1 trial x 2 threads {single['per_s']:.1f} "
              f"examples/s ({single['train_seconds']:.1f} s); 2 trials x 1 thread "
              f"{pair_rate:.1f} examples/s together ("
              + ", ".join(f"{r['per_s']:.1f}/s in {r['train_seconds']:.1f} s" for r in both)
              + f"); pair/single {ratio:.3f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rt", choices=["rt", "fortunes"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2, help="the shipped text space: 2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--evals-per-epoch", type=int, default=2)
    parser.add_argument("--plain-evals-per-epoch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pair", action="store_true",
                        help="2 trials x 1 thread against 1 trial x 2 threads")
    parser.add_argument("--pair-engine", choices=("hpo", "plain"), default="hpo")
    parser.add_argument("--quick", action="store_true", help="tiny data (48 train), one epoch")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"which to compare, comma-separated; plain always runs "
                             f"(default: {','.join(ENGINES)})")
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.engines.split(",")) - set(ENGINES)
    if unknown:
        parser.error(f"--engines: unknown {', '.join(sorted(unknown))}; known: "
                     f"{', '.join(ENGINES)}")
    if "plain" not in args.engines.split(","):
        args.engines += ",plain"
    for flag in ("threads", "epochs", "batch_size", "evals_per_epoch", "plain_evals_per_epoch",
                 "rounds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')}: must be >= 1, got {getattr(args, flag)}")
    if args.quick:
        args.epochs = 1
    if args.engine:  # child process: one run, its numbers as the last line of JSON
        if args.engine == "plain":
            print(json.dumps(run_plain(args, args.threads)))
        else:
            print(json.dumps(run_hpo(args, args.threads, whole=args.engine == "hpo-whole",
                                     grouped=args.engine == "hpo-grouped")))
        return
    rows = pair(args) if args.pair else compare(args)
    print(json.dumps({"mode": "pair" if args.pair else "compare", "task": args.task,
                      "quick": args.quick, "rounds": rows}))


if __name__ == "__main__":
    main()
