"""Server side of the dashboard's first screen: the JSON of the panels on screen, old and new.

``dashboard_scale.py`` times the whole page in a browser, which on a shared machine moves
with the load. This one times only what the server computes for the first screen of the
10,000-trial study (summary, trial-count head, both history plots and the learning curves,
as the page asks for them at 1400x1000), in CPU seconds as well as wall seconds, for this
checkout and optionally an older one (``--baseline DIR``, a directory holding an older
``hpo`` package), alternating between them in each round so both meet the same load.

Usage::

    python benchmarks/dashboard_first_screen.py --store /tmp/hpo-bench/scale-10000.db \\
        [--baseline /tmp/hpo-old] [--rounds 5]

The store is the one ``dashboard_scale.py`` builds (``--workdir``/scale-10000.db).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PANELS = ["history", "history_time", "curves"]  # what the page asks for first at 1400x1000

# Run in a child process so each checkout's hpo is imported fresh. The snapshot is read
# first (the server's prefetch thread does that before a page asks), then every round
# builds the payload with an empty figure cache, as the first page view after start does.
_CHILD = r"""
import json, sys, time
from hpo.results import Store
from hpo.dashboard import _figures, _views
store = Store(sys.argv[1])
store.snapshot("scale")
_figures.to_json(_figures.empty_figure("warm-up", "nothing"))  # as the server warms plotly
_figures.template_json()
w0, c0 = time.perf_counter(), time.process_time()
body = _views.Views(store).study("scale", json.loads(sys.argv[2]), {})
import hpo
print(json.dumps({"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                  "kb": len(body) // 1024, "hpo": hpo.__file__}))
"""


def _once(store: str, env: dict[str, str]) -> dict[str, Any]:
    # Not run from the repository: ``-c`` puts the working directory first on sys.path,
    # and this checkout's hpo/ would shadow the baseline's.
    out = subprocess.run([sys.executable, "-c", _CHILD, f"sqlite:///{Path(store).resolve()}",
                          json.dumps(PANELS)], env={**os.environ, **env}, check=True,
                         capture_output=True, text=True, cwd=tempfile.gettempdir())
    print(out.stderr, end="", file=sys.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Time the first-screen payload of each checkout; print medians and every round."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="the SQLite file dashboard_scale.py built")
    ap.add_argument("--baseline", default=None, help="directory holding an older hpo package")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    if not Path(args.store).exists():
        ap.error(f"--store {args.store!r}: no such file (run dashboard_scale.py first)")
    envs: dict[str, dict[str, str]] = {"hpo": {}}
    if args.baseline:
        base = str(Path(args.baseline).resolve())
        if not (Path(base) / "hpo" / "__init__.py").exists():
            ap.error(f"--baseline {args.baseline!r}: no hpo package in that directory")
        envs["hpo-baseline"] = {"PYTHONPATH": base}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in envs}
    for _ in range(args.rounds):
        for label, env in envs.items():
            runs[label].append(_once(args.store, env))
            print(f"{label}: {runs[label][-1]}", file=sys.stderr, flush=True)
    summary = {label: {k: round(statistics.median(r[k] for r in rs), 3)
                       for k in ("wall_s", "cpu_s", "kb")} | {"hpo": rs[-1]["hpo"]}
               for label, rs in runs.items()}
    print(json.dumps({"panels": PANELS, "rounds": args.rounds, "median": summary,
                      "every_round": runs,
                      "loadavg": open("/proc/loadavg").read().split()[:3]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
