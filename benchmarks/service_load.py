"""Status polls against ``hpo serve`` while two searches run, on loopback, bounded in time.

One server (its own one-node Ray cluster) per ``--max-ages`` value, one after the other,
runs two searches of the synthetic trainable twice, side by side in one run: first with
nobody asking, then while ``--pollers`` threads poll ``GET /api/v1/searches/{id}`` as
fast as answers come (or every ``--interval`` s). It prints the requests per second,
the latency percentiles of the polls, the server's CPU seconds, and each phase's trial
throughput (trials finished per second of the searches' wall time, from the store), so
the polls' effect on the searches can be read beside it.

    python benchmarks/service_load.py                 # 2 x 16 trials per phase, 8 pollers
    python benchmarks/service_load.py --pollers 32 --interval 1   # 32 clients, 1 poll/s each
    python benchmarks/service_load.py --max-ages 0,1 --rounds 2   # no reuse beside 1 s reuse
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


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server(work: Path, max_age: float) -> tuple[subprocess.Popen[bytes], str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / f"serve-{max_age:g}.log", "w")  # closed by the caller
    cwd = work / f"cwd-{max_age:g}"
    cwd.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "hpo", "serve", "--port", str(port),
                             "--storage", f"sqlite:///{work / f'store-{max_age:g}.db'}",
                             "--num-cpus", "2", "--max-running", "2",
                             "--answer-max-age", str(max_age)], cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 300
    while True:
        try:
            _call(base, "GET", "/api/v1/searches")
            return proc, base, log
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                raise RuntimeError((work / f"serve-{max_age:g}.log").read_text()) from None
            time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16, help="trials per search")
    ap.add_argument("--sleep", type=float, default=0.2, help="seconds per trial step")
    ap.add_argument("--pollers", type=int, default=8, help="polling threads")
    ap.add_argument("--interval", type=float, default=0.0,
                    help="seconds each poller waits between polls (default 0: back to back)")
    ap.add_argument("--max-ages", default="1",
                    help="comma-separated --answer-max-age values, one server each, run "
                         "one after the other (e.g. 0,1: reading the store for every poll "
                         "beside reusing answers for 1 s)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="quiet/polled phase pairs per server (the spread of the quiet "
                         "phases is the noise)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hpo-load-"))
    rows: list[dict[str, Any]] = []
    for max_age in [float(a) for a in args.max_ages.split(",")]:
        proc, base, log = _server(work, max_age)
        try:
            for r in range(args.rounds):
                for tag, pollers in (("quiet", 0), ("polled", args.pollers)):
                    cpu0 = _cpu_s(proc.pid)
                    row = _phase(base, f"{tag}-{max_age:g}-{r}", args.trials, args.sleep,
                                 pollers, args.interval)
                    row.update(max_age=max_age, round=r, kind=tag,
                               server_cpu_s=_cpu_s(proc.pid) - cpu0)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()
    for max_age in sorted({r["max_age"] for r in rows}):
        mine = [r for r in rows if r["max_age"] == max_age]
        quiet = [r["trials_per_s"] for r in mine if r["kind"] == "quiet"]
        for r in (r for r in mine if r["kind"] == "polled"):
            q = quiet[r["round"]]
            print(f"--answer-max-age {max_age:g} round {r['round']}: "
                  f"{r.get('rps', 0):.0f} requests/s from {args.pollers} clients, "
                  f"p50 {r.get('p50_ms', 0):.1f} ms, p99 {r.get('p99_ms', 0):.1f} ms, "
                  f"{r['errors']} errors; server CPU {r['server_cpu_s']:.2f} s polled "
                  f"(quiet {mine[2 * r['round']]['server_cpu_s']:.2f} s); trial throughput "
                  f"{q:.3f}/s quiet, {r['trials_per_s']:.3f}/s polled "
                  f"({(r['trials_per_s'] / q - 1) * 100:+.1f} %)")
        if len(quiet) > 1:
            print(f"--answer-max-age {max_age:g}: quiet phases {min(quiet):.3f}-"
                  f"{max(quiet):.3f}/s ({(max(quiet) / min(quiet) - 1) * 100:.1f} % apart)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
