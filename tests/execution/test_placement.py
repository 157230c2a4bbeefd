"""The CPUs this process may use."""

from __future__ import annotations

import pytest

from hpo.execution import _placement
from hpo.execution._placement import usable_cpus


def test_usable_cpus_follow_the_affinity_and_a_container_quota(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_placement.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5},
                        raising=False)
    monkeypatch.setattr(_placement, "_cgroup_cpu_quota", lambda: None)
    assert usable_cpus() == 6
    monkeypatch.setattr(_placement, "_cgroup_cpu_quota", lambda: 2.5)
    assert usable_cpus() == 2
    monkeypatch.setattr(_placement, "_cgroup_cpu_quota", lambda: 0.5)
    assert usable_cpus() == 1
    monkeypatch.delattr(_placement.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(_placement.os, "cpu_count", lambda: 12)
    monkeypatch.setattr(_placement, "_cgroup_cpu_quota", lambda: None)
    assert usable_cpus() == 12
