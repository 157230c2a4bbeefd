"""Placement: how many trials run at once and how many CPUs (threads) each one gets.

A space may say ``concurrency`` and ``resources.cpu``; what it leaves out follows from
the CPUs the search can use (:class:`Capacity`: this machine's usable CPUs when hpo
starts its own Ray, the Ray cluster's when it joins one). ``--concurrency`` wins over
the space, the space over the machine.

On CPUs a trial gets up to :data:`MAX_THREADS_PER_TRIAL` threads and the rest of the
machine runs more trials. Measured on two cores (MiniLM-L6 fine-tuning, max_length 64):
two trials at one thread each delivered 1.4x one trial's throughput, one trial at two
threads 1.8x, with identical validation scores; trials run one after the other also let
the sampler learn from more finished trials. With a GPU (``resources.gpu > 0``) the
concurrency stays the space's (default 1; the GPU packing sizes each trial's share) and
each trial gets its part of the CPUs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from hpo.spaces import SearchSpec

#: Most threads one CPU trial gets when the space does not say. Scaling was measured only
#: up to 2 threads (1.8x); not measured above 2 cores, so the cap stays conservative and a
#: bigger machine runs more trials at once instead of wider ones.
MAX_THREADS_PER_TRIAL = 4
#: Trials at once when a space asks for a GPU and says no concurrency (as before placement).
GPU_DEFAULT_CONCURRENCY = 1


class Capacity(NamedTuple):
    """CPUs the search's trials can use.

    Attributes:
        cpus: CPUs in all.
        node_cpus: CPUs of the largest node; no trial may ask for more, or Ray never
            places it.
        where: ``this machine`` or ``the Ray cluster``, for the reason line.
    """

    cpus: int
    node_cpus: int
    where: str


class Placement(NamedTuple):
    """Trials at once, CPUs (threads) per trial, and why, in one line."""

    concurrency: int
    cpus: float
    reason: str

    def describe(self) -> str:
        return (f"{_count(self.concurrency, 'trial')} at a time, {_count(self.cpus, 'CPU')} "
                f"each ({self.reason})")

    def record(self) -> dict[str, Any]:
        """What the run's record in ``hpo:runs`` keeps (``placement``)."""
        return {"concurrency": self.concurrency, "cpus": self.cpus, "reason": self.reason}

    def apply(self, spec: SearchSpec) -> SearchSpec:
        """``spec`` with this concurrency and CPUs per trial written in."""
        return dataclasses.replace(
            spec, concurrency=self.concurrency,
            resources=dataclasses.replace(spec.resources, cpu=self.cpus))


def choose_placement(capacity: Capacity, concurrency: int | None, cpu: float | None,
                     gpu: float = 0.0, cli_concurrency: int | None = None) -> Placement:
    """Trials at once and CPUs per trial for a search.

    Args:
        capacity: the CPUs the trials can use.
        concurrency: the space's ``concurrency`` (None: not given).
        cpu: the space's ``resources.cpu`` (None: not given).
        gpu: the space's ``resources.gpu``.
        cli_concurrency: ``--concurrency``; wins over the space.
    """
    total = max(1, capacity.cpus)
    widest = max(1, min(capacity.node_cpus, total))
    seen = f"{_count(total, 'CPU')} on {capacity.where}"
    given = []
    if cli_concurrency is not None:
        concurrency = cli_concurrency
        given.append(f"--concurrency {cli_concurrency}")
    elif concurrency is not None:
        given.append(f"the space's concurrency {concurrency}")
    if cpu is not None:
        given.append(f"the space's resources.cpu {cpu:g}")
    if concurrency is not None and cpu is not None:
        return Placement(concurrency, cpu, " and ".join(given))
    if concurrency is not None:
        threads = max(1, min(widest, total // concurrency))
        return Placement(concurrency, float(threads), f"{given[0]}, {seen} shared out")
    if gpu > 0:
        threads = max(1, min(widest, total // GPU_DEFAULT_CONCURRENCY))
        return Placement(GPU_DEFAULT_CONCURRENCY, float(threads) if cpu is None else cpu,
                         f"{', '.join([*given, seen])}; trials ask for a GPU: "
                         f"{GPU_DEFAULT_CONCURRENCY} at a time unless the space or "
                         "--concurrency says more")
    if cpu is not None:
        return Placement(max(1, int(total // cpu)), cpu, f"{given[0]}, as many as {seen} fit")
    threads = min(widest, MAX_THREADS_PER_TRIAL)
    return Placement(max(1, total // threads), float(threads),
                     f"{seen}; on CPUs one trial with more threads beats more single-thread "
                     f"trials, up to {MAX_THREADS_PER_TRIAL} threads per trial")


def _count(n: float, noun: str) -> str:
    return f"{n:g} {noun}" + ("" if n == 1 else "s")


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


def machine_capacity() -> Capacity:
    """This machine, for the Ray instance hpo starts here."""
    cpus = usable_cpus()
    return Capacity(cpus, cpus, "this machine")


def cluster_capacity() -> Capacity:
    """The Ray cluster this process is connected to."""
    import ray

    total = int(ray.cluster_resources().get("CPU", 0))
    nodes = [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return Capacity(total, max(nodes, default=total), "the Ray cluster")


def placement_for(spec: SearchSpec, capacity: Capacity | None = None,
                  cli_concurrency: int | None = None) -> Placement:
    """:func:`choose_placement` for ``spec`` (default capacity: this machine)."""
    return choose_placement(capacity or machine_capacity(), spec.concurrency,
                            spec.resources.cpu, spec.resources.gpu, cli_concurrency)
