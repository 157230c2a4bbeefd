"""Starting Ray: Tune's per-actor variables live in the workers' environment instead."""

from __future__ import annotations

import pytest


def test_tune_actor_variables_move_to_the_worker_environment_on_every_start() -> None:
    pytest.importorskip("ray.tune")
    from ray.tune.execution import class_cache

    from hpo.execution._ray_init import _tune_actor_env

    first = _tune_actor_env()
    second = _tune_actor_env()  # a second Ray start in the same process
    assert first == second
    assert first.get("PL_DISABLE_FORK") == "1"
    # Tune now gives trial actors an empty runtime environment ...
    assert not class_cache.DEFAULT_ENV_VARS
    # ... and no longer copies a variable hpo has already put in the workers' environment.
    assert not set(first) & set(class_cache.ENV_VARS_TO_PROPAGATE)


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
