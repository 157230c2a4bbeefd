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
