"""Placement: the CPUs this process may use."""

from __future__ import annotations

import os
from pathlib import Path


def usable_cpus() -> int:
    """CPUs this process may use: its CPU affinity (``os.cpu_count()`` where the platform
    has none), lowered to a container's CPU quota when one is set, since a quota does not
    show in the affinity (a pod limited to 2 CPUs sees every core of its host)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))
    return max(1, cpus)


def _cgroup_cpu_quota() -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v1, then v2, as Ray reads them)."""
    root = Path("/sys/fs/cgroup")
    try:
        quota = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        pass
    try:
        limit, period_text = (root / "cpu.max").read_text().split()[:2]
        return float(limit) / float(period_text) if limit != "max" else None
    except (OSError, ValueError):
        return None
