"""Starting Ray: Tune's per-actor variables live in the workers' environment instead."""

from __future__ import annotations

import pytest


def test_tune_leaves_out_actor_variables_the_started_workers_have(ray_cluster: None) -> None:
    pytest.importorskip("ray.tune")
    from ray.tune.execution import class_cache

    from hpo.execution._ray_init import TUNE_ACTOR_ENV, tune_actors_on_started_workers

    # hpo's list of Tune's per-actor variables is Tune's own list.
    assert class_cache.DEFAULT_ENV_VARS == TUNE_ACTOR_ENV
    before = (dict(class_cache.DEFAULT_ENV_VARS), set(class_cache.ENV_VARS_TO_PROPAGATE))
    with tune_actors_on_started_workers():
        # Tune now gives trial actors an empty runtime environment ...
        assert not class_cache.DEFAULT_ENV_VARS
        # ... and copies no variable the workers inherited with the same value.
        assert "RAY_TRAIN_V2_ENABLED" not in class_cache.ENV_VARS_TO_PROPAGATE
    assert (class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE) == before


def test_tune_keeps_a_variable_that_changed_since_the_workers_started(
        ray_cluster: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray.tune")
    from ray.tune.execution import class_cache

    from hpo.execution._ray_init import tune_actors_on_started_workers

    monkeypatch.setenv("RAY_TRAIN_V2_ENABLED", "1")  # workers started with "0"
    with tune_actors_on_started_workers():
        assert "RAY_TRAIN_V2_ENABLED" in class_cache.ENV_VARS_TO_PROPAGATE


def test_quick_node_wait_finds_a_registered_raylet_and_puts_rays_lookup_back(
        ray_cluster: None) -> None:
    import time

    import ray
    import ray._private.services as services

    from hpo.execution._ray_init import _quick_node_wait

    original = services.get_node
    node = ray._private.worker.global_worker.node
    with _quick_node_wait():
        assert services.get_node is not original
        started = time.monotonic()
        info = services.get_node(node.gcs_address, node.node_id)
        waited = time.monotonic() - started
    assert services.get_node is original
    assert info["node_id"] == node.node_id
    assert waited < 0.5  # registered already: no one-second retry step


def test_local_start_retries_socket_connections_quickly_with_the_same_patience() -> None:
    from hpo.execution._ray_init import START_CONFIG

    step = START_CONFIG["raylet_client_connect_timeout_milliseconds"]
    tries = START_CONFIG["raylet_client_num_connect_attempts"]
    assert step <= 50
    assert step * tries >= 10_000  # Ray's default: 10 tries, 1 s apart


def _imported(names: tuple[str, ...]) -> list[str]:
    import sys

    return [name for name in names if name in sys.modules]


def test_workers_of_the_instance_import_what_trial_actors_need_before_taking_work(
        ray_cluster: None) -> None:
    import ray

    from hpo.execution._ray_init import TRIAL_MODULES

    # A runtime environment of its own gives the task a fresh worker process, one
    # that has run nothing before it.
    fresh = ray.remote(runtime_env={"env_vars": {"HPO_FRESH_WORKER": "1"}})(_imported)
    assert ray.get(fresh.remote(TRIAL_MODULES), timeout=120) == list(TRIAL_MODULES)


def test_the_instance_started_here_runs_no_monitor_api_server_or_log_monitor(
        ray_cluster: None) -> None:
    import ray
    from ray._private import ray_constants
    from ray._private.node import Node

    from hpo.execution._ray_init import _lean_head

    node = ray._private.worker._global_node
    kinds = set(node.all_processes)
    assert ray_constants.PROCESS_TYPE_RAYLET in kinds
    assert not kinds & {ray_constants.PROCESS_TYPE_MONITOR, ray_constants.PROCESS_TYPE_DASHBOARD,
                        ray_constants.PROCESS_TYPE_LOG_MONITOR}
    before = {name: Node.__dict__[name]
              for name in ("start_monitor", "start_api_server", "start_log_monitor")}
    with _lean_head(log_monitor=True):
        assert Node.__dict__["start_monitor"] is not before["start_monitor"]
        assert Node.__dict__["start_log_monitor"] is before["start_log_monitor"]
    assert {name: Node.__dict__[name] for name in before} == before
