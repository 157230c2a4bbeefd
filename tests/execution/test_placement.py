"""Trials at once and CPUs per trial, from the machine unless the space or the CLI says."""

from __future__ import annotations

import pytest

from hpo.execution import _placement
from hpo.execution._placement import (
    MAX_THREADS_PER_TRIAL,
    Capacity,
    Placement,
    choose_placement,
    usable_cpus,
)
from hpo.spaces import parse_space


def _machine(cpus: int) -> Capacity:
    return Capacity(cpus, cpus, "this machine")


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [(1, (1, 1.0)), (2, (1, 2.0)), (3, (1, 3.0)), (16, (4, 4.0)), (18, (4, 4.0))],
)
def test_cpu_trials_get_up_to_the_cap_of_threads_and_the_rest_runs_more_trials(
        cpus: int, expected: tuple[int, float]) -> None:
    assert MAX_THREADS_PER_TRIAL == 4
    placement = choose_placement(_machine(cpus), None, None)
    assert (placement.concurrency, placement.cpus) == expected
    assert f"{cpus} CPU" in placement.reason and "this machine" in placement.reason


def test_explicit_concurrency_shares_the_cpus_out() -> None:
    assert choose_placement(_machine(16), 2, None)[:2] == (2, 8.0)
    assert choose_placement(_machine(2), 2, None)[:2] == (2, 1.0)
    # More trials than CPUs: each still gets one thread.
    assert choose_placement(_machine(2), 4, None)[:2] == (4, 1.0)
    assert "the space's concurrency 2" in choose_placement(_machine(16), 2, None).reason


def test_explicit_cpu_runs_as_many_trials_as_fit() -> None:
    assert choose_placement(_machine(16), None, 2.0)[:2] == (8, 2.0)
    assert choose_placement(_machine(2), None, 1.0)[:2] == (2, 1.0)
    assert choose_placement(_machine(2), None, 4.0)[:2] == (1, 4.0)
    assert "resources.cpu 2" in choose_placement(_machine(16), None, 2.0).reason


def test_both_explicit_are_kept_whatever_the_machine() -> None:
    for cpus in (1, 2, 64):
        assert choose_placement(_machine(cpus), 3, 1.5)[:2] == (3, 1.5)


def test_cli_concurrency_wins_over_the_space_and_the_machine() -> None:
    placement = choose_placement(_machine(16), 2, None, cli_concurrency=3)
    assert placement[:2] == (3, 5.0) and "--concurrency 3" in placement.reason
    assert choose_placement(_machine(16), None, None, cli_concurrency=1)[:2] == (1, 16.0)
    assert choose_placement(_machine(16), 2, 1.0, cli_concurrency=6)[:2] == (6, 1.0)


def test_no_trial_asks_for_more_cpus_than_the_largest_node_has() -> None:
    cluster = Capacity(cpus=8, node_cpus=2, where="the Ray cluster")
    assert choose_placement(cluster, None, None)[:2] == (4, 2.0)
    assert choose_placement(cluster, 1, None)[:2] == (1, 2.0)
    assert choose_placement(Capacity(0, 0, "the Ray cluster"), None, None)[:2] == (1, 1.0)


def test_gpu_trials_keep_the_spaces_concurrency_and_share_the_cpus() -> None:
    assert choose_placement(_machine(8), None, None, gpu=0.25)[:2] == (1, 8.0)
    assert choose_placement(_machine(8), 4, None, gpu=0.25)[:2] == (4, 2.0)
    assert choose_placement(_machine(8), None, 2.0, gpu=0.5)[:2] == (1, 2.0)
    assert "GPU" in choose_placement(_machine(8), None, None, gpu=1.0).reason


def test_placement_is_written_into_the_spec_and_described() -> None:
    spec = parse_space("trainable: synthetic\nobjective: {metric: score}\n"
                       "resources: {gpu: 0.5}\nparams:\n  x: {type: float, low: 0, high: 1}\n")
    placed = Placement(2, 3.0, "why").apply(spec)
    assert (placed.concurrency, placed.resources.cpu, placed.resources.gpu) == (2, 3.0, 0.5)
    assert spec.concurrency is None and spec.resources.cpu is None
    assert Placement(1, 2.0, "why").describe() == "1 trial at a time, 2 CPUs each (why)"
    assert Placement(2, 1.0, "x").record() == {"concurrency": 2, "cpus": 1.0, "reason": "x"}


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
