"""The results file (one JSON object per line) and the summary table read from it.

Each line is one search of one method (or the default recipe) on one task at one
budget and search seed, with every retrain seed's test accuracy. A line is added by
rewriting the file into a temp file and renaming it over the old one under a lock
file, so a reader never sees half a line and two runs never lose each other's lines.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import statistics
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

# Student t quantiles (0.975) by degrees of freedom, for 95 % intervals over seeds.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
#: A search "ended within its budget" when its wall time is at most this much over it.
BUDGET_TOLERANCE = 0.05
METHODS = ("hpo", "ray", "trainer", "recipe")
#: When the space hpo runs for a task changed, oldest first: the tasks, the change's
#: time, the earlier space's label, and the variant that became the shipped space. An
#: hpo line without a variant from before the change ran the earlier space, so it is
#: shown under that label; lines of the promoted variant ran what was shipped from then
#: on, so they count as the shipped row until a later change relabels them in turn. The
#: lines themselves stay as they were written.
ShippedSpaceChange = tuple[frozenset[str], str, str, str]
SHIPPED_SPACE_CHANGES: tuple[ShippedSpaceChange, ...] = (
    (frozenset({"rt", "fortunes"}), "2026-12-07T17:00:00+00:00",
     "2-epoch space, shipped until 2026-12-07",
     "3 epochs, rf 3, no constant, stratified start-up, batches grouped by length"),
    (frozenset({"rt", "fortunes"}), "2026-12-07T20:45:00+00:00",
     "3-epoch space scored by best evaluation, shipped 2026-12-07",
     "shipped shape, scored by last evaluation"),
)


def t975(dof: int) -> float:
    """The 0.975 t quantile for ``dof`` degrees of freedom (next tabled value down)."""
    known = [d for d in _T975 if d <= dof]
    return _T975[max(known)] if known else float("nan")


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval (NaN half-width for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def environment() -> dict[str, Any]:
    """Versions and machine, recorded with every line."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    for package in ("hpo", "torch", "transformers", "ray", "optuna", "datasets", "accelerate"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return {"versions": versions, "python": platform.python_version(),
            "machine": {"node": platform.node(), "cpus": os.cpu_count(),
                        "processor": platform.processor() or platform.machine(),
                        "system": platform.platform()}}


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Add ``record`` as one line of ``path`` (temp file + rename, under a lock file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(old + line.encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_lines(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every record of the given files.

    Raises:
        ValueError: a line that is not JSON, naming the file and line number.
    """
    out = []
    for path in paths:
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if not text.strip():
                continue
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
    return out


def _fmt(mean: float, half: float, signed: bool = False) -> str:
    value = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return value if math.isnan(half) else f"{value} ± {half:.4f}"


def variant_of(rec: dict[str, Any],
               changes: tuple[ShippedSpaceChange, ...] = SHIPPED_SPACE_CHANGES) -> str:
    """The line's variant as the summary groups it (see :data:`SHIPPED_SPACE_CHANGES`):
    ``""`` for the space shipped now, an earlier space's label, or the line's own."""
    variant = str(rec.get("variant") or "")
    if rec["method"] != "hpo":
        return variant
    when = datetime.fromisoformat(rec["date"])
    promoted_run = False  # a promoted variant's run: later changes replace it, whenever it ran
    for tasks, changed, earlier, promoted in changes:  # oldest first: labels chain
        if rec["task"] not in tasks:
            continue
        if variant == promoted:
            variant, promoted_run = "", True  # what this change shipped, until a later one
        elif not variant and (promoted_run or when < datetime.fromisoformat(changed)):
            variant = earlier
    return variant


def summary_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, budget, method, variant): means and 95 % intervals, paired differences.

    A record's optional ``variant`` (``--variant``) names a change tried against the
    shipped setup, such as another epoch count in the space; its runs get a row of their
    own, shown as ``method (variant)``, so the shipped setup's row stays comparable;
    hpo lines from before a change of the shipped space count as a variant too
    (:data:`SHIPPED_SPACE_CHANGES`).

    The unit of an interval is the search seed when a method ran with several (each
    search's mean over its retrain seeds), otherwise the retrain seed. A difference
    against the recipe pairs retrains with the same seed: the recipe's test accuracy
    at seed s (the mean over its lines at that seed) is taken from the method's.
    """
    recipe: dict[str, dict[int, list[float]]] = {}
    for rec in records:
        if rec["method"] == "recipe":
            by_seed = recipe.setdefault(rec["task"], {})
            for seed, acc in zip(rec["retrain_seeds"], rec["test_accuracy"]):
                by_seed.setdefault(int(seed), []).append(float(acc))
    groups: dict[tuple[str, float, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        budget = 0.0 if rec["method"] == "recipe" else float(rec["budget_s"])
        key = (rec["task"], budget, rec["method"], variant_of(rec))
        groups.setdefault(key, []).append(rec)
    rows = []
    order = {m: i for i, m in enumerate(METHODS)}
    for (task, budget, method, variant), recs in sorted(
            groups.items(),
            key=lambda kv: (kv[0][0], kv[0][1], order.get(kv[0][2], 9), kv[0][3])):
        per_run = [statistics.fmean(r["test_accuracy"]) for r in recs]
        scores = per_run if len(recs) > 1 else [float(a) for a in recs[0]["test_accuracy"]]
        diffs_per_run = []
        base = recipe.get(task, {})
        for r in recs:
            pairs = [float(a) - statistics.fmean(base[int(s)])
                     for s, a in zip(r["retrain_seeds"], r["test_accuracy"]) if int(s) in base]
            if pairs:
                diffs_per_run.append(pairs)
        if method == "recipe" or not diffs_per_run:
            diff = (float("nan"), float("nan"))
        elif len(diffs_per_run) > 1:
            diff = interval([statistics.fmean(d) for d in diffs_per_run])
        else:
            diff = interval(diffs_per_run[0])
        within = [r["search_seconds"] <= (1 + BUDGET_TOLERANCE) * r["budget_s"]
                  for r in recs if method != "recipe"]
        rows.append({
            "task": task, "budget_s": budget, "method": method, "variant": variant,
            "runs": len(recs),
            "trials": statistics.fmean(r["trials"] for r in recs),
            "search_s": statistics.fmean(r["search_seconds"] for r in recs),
            "within_budget": f"{sum(within)}/{len(within)}" if within else "-",
            "best_validation": statistics.fmean(
                r["best_validation"] for r in recs if r["best_validation"] is not None)
            if any(r["best_validation"] is not None for r in recs) else float("nan"),
            "test": interval(scores), "diff": diff,
            "dates": sorted({r["date"][:10] for r in recs}),
        })
    return rows


def summary_table(records: list[dict[str, Any]]) -> str:
    """The markdown table the README carries."""
    lines = ["| task | budget | method | runs | trials | search s | within 5 % | best val "
             "| test accuracy (95 %) | vs recipe (paired) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary_rows(records):
        mean_diff, half_diff = row["diff"]
        diff = "-" if math.isnan(mean_diff) else _fmt(mean_diff, half_diff, signed=True)
        best_val = "-" if math.isnan(row["best_validation"]) else f"{row['best_validation']:.4f}"
        budget = "-" if row["method"] == "recipe" else f"{row['budget_s']:.0f} s"
        method = f"{row['method']} ({row['variant']})" if row["variant"] else row["method"]
        lines.append(
            f"| {row['task']} | {budget} | {method} | {row['runs']} | "
            f"{row['trials']:.1f} | {row['search_s']:.0f} | {row['within_budget']} | "
            f"{best_val} | {_fmt(*row['test'])} | "
            f"{diff} |")
    versions = sorted({json.dumps(r.get("versions", {}), sort_keys=True) for r in records})
    dates = sorted({r["date"][:10] for r in records})
    lines.append("")
    lines.append(f"dates: {', '.join(dates)}; versions: "
                 + "; ".join(", ".join(f"{k} {v}" for k, v in json.loads(v).items())
                             for v in versions))
    return "\n".join(lines)
