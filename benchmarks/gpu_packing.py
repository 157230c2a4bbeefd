"""Trials per hour and best validation accuracy with 1, 2, 4 and 8 trials packed per GPU.

The same search (MiniLM-L6 on 1,000 Rotten Tomatoes snippets, the space
``benchmarks/spaces/text_1000.yaml`` with its time budget replaced) runs once per
packing, one after the other on the same machine, each for ``--seconds`` of search:
``resources.gpu`` is 1/k and the concurrency k per GPU. For each packing the table
gives the finished trials, trials per hour, the best validation accuracy, the largest
GPU memory peak a trial reported (``gpu_peak_bytes``, from
``torch.cuda.max_memory_allocated``) against the GPU's memory, and the trials that ran
out of memory. One GPU, four packings of 90 s each: about 7 minutes with start-ups::

    python benchmarks/gpu_packing.py --seconds 90 --out gpu_packing.jsonl

``--cpu-check`` runs the same code path on the CPU with tiny data and a few seconds per
packing (``resources.gpu: 0``), so the script is exercised where no GPU is lent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPACE = ROOT / "benchmarks" / "spaces" / "text_1000.yaml"
PACKINGS = (1, 2, 4, 8)


def _spec(per_gpu: int, gpus: int, seconds: float, cpu_check: bool) -> Any:
    from hpo.spaces import load_space
    from hpo.spaces._spec import Budget, Resources

    spec = load_space(SPACE)
    cpus = os.cpu_count() or 1
    concurrency = per_gpu * max(1, gpus)
    resources = Resources(cpu=max(1.0, float(cpus // concurrency)) if not cpu_check else 1.0,
                          gpu=0.0 if cpu_check else 1.0 / per_gpu)
    data = dict(spec.data)
    if cpu_check:
        data.update(train_size=48, validation_size=24, test_size=24)
    budget = Budget(trials=10_000, time_s=seconds, max_steps=spec.budget.max_steps)
    return dataclasses.replace(spec, data=data, budget=budget, concurrency=concurrency,
                               resources=resources, name=f"gpu-packing-{per_gpu}")


def _row(study: Any, per_gpu: int, seconds: float, wall: float,
         gpu_memory: int | None) -> dict[str, Any]:
    import optuna

    from hpo.storage import attrs

    finished = [t for t in study.trials if t.state.is_finished()]
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    peaks = [max((v.get("gpu_peak_bytes", 0) for k, v in t.user_attrs.items()
                  if k.startswith(attrs.METRICS_PREFIX) and isinstance(v, dict)), default=0)
             for t in finished]
    # An out-of-memory trial is stored infeasible (PRUNED, so the sampler learns from
    # it) with the reason; count both ways it may read.
    oom = [t.number for t in finished if t.user_attrs.get(attrs.INFEASIBLE)
           or "out of memory" in str(t.user_attrs.get(attrs.FAIL_REASON, "")).lower()]
    best = max((t.value for t in complete if t.value is not None), default=None)
    return {"per_gpu": per_gpu, "seconds": seconds, "wall_s": round(wall, 1),
            "finished": len(finished), "complete": len(complete),
            "trials_per_hour": round(len(finished) * 3600 / wall, 1), "best_accuracy": best,
            "max_peak_bytes": max(peaks, default=0), "gpu_memory_bytes": gpu_memory,
            "oom_trials": oom}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="search time per packing")
    parser.add_argument("--packings", default=",".join(map(str, PACKINGS)),
                        help="trials per GPU to try, comma-separated")
    parser.add_argument("--cpu-check", action="store_true",
                        help="tiny data on the CPU: exercise the script without a GPU")
    parser.add_argument("--out", type=Path, help="append one JSON line per packing here")
    args = parser.parse_args(argv)

    import optuna

    from hpo.execution import run_search

    gpus, gpu_memory = 0, None
    if not args.cpu_check:
        import torch

        if not torch.cuda.is_available():
            sys.exit("gpu_packing: no GPU visible; use --cpu-check to exercise the script")
        gpus = torch.cuda.device_count()
        gpu_memory = int(torch.cuda.get_device_properties(0).total_memory)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/packing.db"
        for per_gpu in (int(p) for p in args.packings.split(",")):
            spec = _spec(per_gpu, gpus, args.seconds, args.cpu_check)
            started = time.perf_counter()
            run_search(spec, storage=storage, progress=False, score_test=False)
            wall = time.perf_counter() - started
            study = optuna.load_study(study_name=spec.name, storage=storage)
            row = _row(study, per_gpu, args.seconds, wall, gpu_memory)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with args.out.open("a") as fh:
                    fh.write(json.dumps({**row, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                       time.gmtime())}) + "\n")
    base = rows[0]["trials_per_hour"] or float("nan")
    print(f"{'per GPU':>8} {'trials':>7} {'trials/h':>9} {'x one':>6} {'best acc':>9} "
          f"{'max peak':>10} {'OOM':>4}")
    for row in rows:
        peak = f"{row['max_peak_bytes'] / 2**30:.2f} GiB" if row["max_peak_bytes"] else "-"
        best = f"{row['best_accuracy']:.4f}" if row["best_accuracy"] is not None else "-"
        print(f"{row['per_gpu']:>8} {row['finished']:>7} {row['trials_per_hour']:>9} "
              f"{row['trials_per_hour'] / base:>6.2f} {best:>9} {peak:>10} "
              f"{len(row['oom_trials']):>4}")
    return rows


if __name__ == "__main__":
    main()
