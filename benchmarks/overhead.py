"""Per-trial overhead of hpo against plain Ray Tune, measured side by side in one run.

N trials each sleep T seconds in total, reporting R times, C at a time. The
ideal wall time is N*T/C; each engine's overhead is its wall time over that.
Both report the same score for every config, so ASHA stops nothing and both
run exactly N*T seconds of work. Each engine runs in its own subprocess and its
clock starts before Ray starts, so Ray's start-up counts for both.

    python benchmarks/overhead.py --trials 100
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds of work per trial")
    parser.add_argument("--reports", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--engine", choices=["hpo", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:  # child process: run one engine, print its wall time as JSON
        wall = run_hpo(args) if args.engine == "hpo" else run_ray(args)
        print(json.dumps({"wall": wall}))
        return

    ideal = args.trials * args.sleep / args.concurrency
    walls = {}
    for engine in ("hpo", "ray"):
        cmd = [sys.executable, __file__, "--engine", engine, "--trials", str(args.trials),
               "--sleep", str(args.sleep), "--reports", str(args.reports),
               "--concurrency", str(args.concurrency)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"{engine} failed:\n{out.stderr[-3000:]}")
        walls[engine] = json.loads(out.stdout.strip().splitlines()[-1])["wall"]

    print(f"{args.trials} trials x {args.sleep:g} s ({args.reports} reports each), "
          f"concurrency {args.concurrency}: ideal {ideal:.1f} s")
    print(f"{'engine':<34} {'wall s':>8} {'overhead':>9}")
    labels = {"hpo": "hpo (run_search)",
              "ray": "Ray Tune (Tuner+OptunaSearch+ASHA)"}
    for engine, wall in walls.items():
        print(f"{labels[engine]:<34} {wall:8.1f} {wall / ideal - 1:9.1%}")
    print(f"ratio ray/hpo wall time: {walls['ray'] / walls['hpo']:.2f}")


if __name__ == "__main__":
    main()
