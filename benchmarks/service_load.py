"""Status polls against ``hpo serve`` while two searches run, on loopback, bounded in time.

One server (its own one-node Ray cluster) runs two searches of the synthetic trainable
twice, side by side in one run: first with nobody asking, then while ``--pollers``
threads poll ``GET /api/v1/searches/{id}`` as fast as answers come. It prints the
requests per second, the latency percentiles of the polls, and each phase's trial
throughput (trials finished per second of the searches' wall time, from the store), so
the polls' effect on the searches can be read beside it.

    python benchmarks/service_load.py                 # 2 x 16 trials per phase, 8 pollers
    python benchmarks/service_load.py --pollers 32 --interval 1   # 32 clients, 1 poll/s each
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

SPACE = """\
name: {name}
trainable: synthetic
objective: {{metric: score, direction: maximize}}
sampler: {{name: random, options: {{seed: 0}}}}
scheduler: fifo
budget: {{trials: {trials}, max_steps: 3}}
concurrency: 1
params:
  x: {{type: float, low: 0.0, high: 1.0}}
  y: {{type: float, low: 0.0, high: 1.0}}
  steps: 3
  sleep: {sleep}
"""


def _call(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _phase(base: str, tag: str, trials: int, sleep: float, pollers: int,
           interval: float = 0.0) -> dict[str, Any]:
    ids = [_call(base, "POST", "/api/v1/searches", {
        "space": SPACE.format(name=f"load-{tag}-{i}", trials=trials, sleep=sleep),
        "test_score": False})["id"] for i in range(2)]
    stop = threading.Event()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def poll(n: int) -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                _call(base, "GET", f"/api/v1/searches/{ids[n % 2]}")
            except OSError:
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)
            if interval:
                stop.wait(interval)

    threads = [threading.Thread(target=poll, args=(n,), daemon=True) for n in range(pollers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    while True:
        states = [_call(base, "GET", f"/api/v1/searches/{i}")["state"] for i in ids]
        if all(s not in ("queued", "running", "cancelling") for s in states):
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    done = 0
    span = 0.0
    for job_id in ids:
        page = _call(base, "GET", f"/api/v1/searches/{job_id}/trials?limit=500")
        trials_ = [t for t in page["trials"] if t["complete"] is not None]
        done += len(trials_)
        span += max(t["complete"] for t in trials_) - min(t["start"] for t in trials_)
    out: dict[str, Any] = {"phase": tag, "states": states, "trials": done,
                           "trials_per_s": done / (span / 2), "wall_s": wall,
                           "requests": len(latencies), "errors": errors[0]}
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        out.update(rps=len(latencies) / wall, p50_ms=q[49] * 1e3, p99_ms=q[98] * 1e3,
                   max_ms=max(latencies) * 1e3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16, help="trials per search")
    ap.add_argument("--sleep", type=float, default=0.2, help="seconds per trial step")
    ap.add_argument("--pollers", type=int, default=8, help="polling threads")
    ap.add_argument("--interval", type=float, default=0.0,
                    help="seconds each poller waits between polls (default 0: back to back)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hpo-load-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "w")  # closed in the finally below
    (work / "cwd").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "hpo", "serve", "--port", str(port),
                             "--storage", f"sqlite:///{work / 'store.db'}", "--num-cpus", "2",
                             "--max-running", "2"], cwd=work / "cwd", stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                _call(base, "GET", "/api/v1/searches")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    print((work / "serve.log").read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.5)
        results = [_phase(base, "quiet", args.trials, args.sleep, 0),
                   _phase(base, "polled", args.trials, args.sleep, args.pollers,
                          args.interval)]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    for r in results:
        print(json.dumps(r))
    quiet, polled = results
    print(f"polls: {polled.get('rps', 0):.0f} requests/s from {args.pollers} threads, "
          f"p50 {polled.get('p50_ms', 0):.1f} ms, p99 {polled.get('p99_ms', 0):.1f} ms, "
          f"{polled['errors']} errors; trial throughput {quiet['trials_per_s']:.3f}/s quiet, "
          f"{polled['trials_per_s']:.3f}/s polled "
          f"({(polled['trials_per_s'] / quiet['trials_per_s'] - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
