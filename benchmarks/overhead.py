"""Per-trial overhead of hpo against plain Ray Tune, measured side by side in one run.

N trials each sleep T seconds in total, reporting R times, C at a time. The
ideal wall time is N*T/C; each engine's overhead is its wall time over that.
Both report the same score for every config, so ASHA stops nothing and both
run exactly N*T seconds of work. Each engine runs in its own subprocess and its
clock starts before Ray starts, so Ray's start-up counts for both.

    python benchmarks/overhead.py --trials 100
    python benchmarks/overhead.py --rounds 2 --baseline ../hpo-old   # an older checkout too
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def sleepy(config: dict[str, Any]) -> None:
    """The benchmark trainable for hpo: sleeps ``sleep`` seconds over ``reports`` reports."""
    import hpo

    reports = int(config["reports"])
    for step in range(1, reports + 1):
        time.sleep(float(config["sleep"]) / reports)
        hpo.report({"score": float(step)})


def run_hpo(args: argparse.Namespace) -> float:
    from hpo.execution import run_search
    from hpo.spaces import parse_space

    spec = parse_space(f"""
trainable: benchmarks.overhead:sleepy
objective: {{metric: score, direction: maximize}}
sampler: tpe
scheduler: asha
budget: {{trials: {args.trials}, max_steps: {args.reports}}}
concurrency: {args.concurrency}
params:
  x: {{type: float, low: 0.0, high: 1.0}}
  y: {{type: float, low: 0.0, high: 1.0}}
  sleep: {args.sleep}
  reports: {args.reports}
""", "overhead.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_search(spec, storage=f"sqlite:///{tmp}/bench.db", progress=False)
        elapsed = time.perf_counter() - t0
    assert result.complete == args.trials, result
    return elapsed


def run_ray(args: argparse.Namespace) -> float:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    reports, sleep = args.reports, args.sleep

    def trainable(config: dict[str, Any]) -> None:
        for step in range(1, reports + 1):
            time.sleep(sleep / reports)
            tune.report({"score": float(step)})

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ray.init(num_cpus=args.concurrency, include_dashboard=False)
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0.0, 1.0), "y": tune.uniform(0.0, 1.0)},
            tune_config=tune.TuneConfig(
                search_alg=OptunaSearch(metric="score", mode="max"),
                scheduler=ASHAScheduler(metric="score", mode="max", max_t=reports),
                num_samples=args.trials,
                max_concurrent_trials=args.concurrency,
            ),
            run_config=tune.RunConfig(storage_path=tmp, verbose=0),
        )
        grid = tuner.fit()
        ray.shutdown()
        elapsed = time.perf_counter() - t0
    assert len(grid) == args.trials
    return elapsed


def _run_engine(engine: str, args: argparse.Namespace, root: Path) -> float:
    """One engine in a subprocess of its own; ``root`` is the checkout whose hpo it runs."""
    script = root / "benchmarks" / "overhead.py"
    cmd = [sys.executable, str(script), "--engine", engine, "--trials", str(args.trials),
           "--sleep", str(args.sleep), "--reports", str(args.reports),
           "--concurrency", str(args.concurrency)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p))
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{engine} ({root}) failed:\n{out.stderr[-3000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["wall"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds of work per trial")
    parser.add_argument("--reports", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every engine this many times, one after the other")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also run the hpo of another checkout (e.g. a `git worktree` of "
                             "an older commit) in the same rounds")
    parser.add_argument("--engine", choices=["hpo", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:  # child process: run one engine, print its wall time as JSON
        wall = run_hpo(args) if args.engine == "hpo" else run_ray(args)
        print(json.dumps({"wall": wall}))
        return

    ideal = args.trials * args.sleep / args.concurrency
    engines: list[tuple[str, str, Path]] = [("hpo (run_search)", "hpo", ROOT),
                                            ("Ray Tune (Tuner+OptunaSearch+ASHA)", "ray", ROOT)]
    if args.baseline:
        engines.insert(0, (f"hpo of {args.baseline}", "hpo", args.baseline.resolve()))
    walls: dict[str, list[float]] = {label: [] for label, _, _ in engines}
    for _ in range(args.rounds):
        for label, engine, root in engines:
            walls[label].append(_run_engine(engine, args, root))

    print(f"{args.trials} trials x {args.sleep:g} s ({args.reports} reports each), "
          f"concurrency {args.concurrency}: ideal {ideal:.1f} s; {args.rounds} round(s)")
    print(f"{'engine':<40} {'wall s (every round)':>24} {'overhead':>18}")
    for label, runs in walls.items():
        shown = ", ".join(f"{w:.1f}" for w in runs)
        over = ", ".join(f"{w / ideal - 1:.1%}" for w in runs)
        print(f"{label:<40} {shown:>24} {over:>18}")
    hpo_runs, ray_runs = walls["hpo (run_search)"], walls["Ray Tune (Tuner+OptunaSearch+ASHA)"]
    print("ratio ray/hpo wall time, each round: "
          + ", ".join(f"{r / h:.2f}" for r, h in zip(ray_runs, hpo_runs)))


if __name__ == "__main__":
    main()
