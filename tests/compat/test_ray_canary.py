"""Canaries for hpo._compat.ray: they fail loudly when a Ray upgrade moves the private
structure one of its helpers reads.

Each helper falls back to Ray's own behaviour when the structure is gone, so a search
would still run, only slower or with a vaguer message. When one of these fails after an
upgrade, look at what the new Ray does in that place and update hpo/_compat/ray.py (or
drop the helper), then the pyproject.toml bound on Ray.
"""

from __future__ import annotations

import inspect
import os

import pytest

from hpo._compat import ray as compat

pytest.importorskip("ray.tune")


def test_function_trainable_session_has_the_stop_event_ray_sets_when_it_stops_a_trial(
) -> None:
    from ray.train._internal import session

    assert callable(session.get_session)
    # Set up with every (re)used trial, set by finish() when Tune stops the trial.
    reset = inspect.getsource(session._TrainSession.reset)
    finish = inspect.getsource(session._TrainSession.finish)
    assert "self.stop_event = threading.Event()" in reset
    assert "self.stop_event.set()" in finish
    # Outside a trial there is no session, and no stop.
    assert session.get_session() is None
    assert compat.tune_stop_requested() is False


def test_tune_actor_env_tables_are_where_and_what_hpo_expects() -> None:
    from ray.tune.execution import class_cache

    tables = compat.tune_actor_env_tables()
    assert tables is not None, "class_cache.DEFAULT_ENV_VARS / ENV_VARS_TO_PROPAGATE moved"
    defaults, copied = tables
    assert defaults is class_cache.DEFAULT_ENV_VARS
    assert copied is class_cache.ENV_VARS_TO_PROPAGATE
    # The local instance's workers inherit hpo's copy: it must be Tune's table.
    assert defaults == compat.TUNE_ACTOR_ENV
    # Tune reads both tables each time it makes an actor class (so changing them works).
    source = inspect.getsource(class_cache._ActorClassCache.get)
    assert "DEFAULT_ENV_VARS" in source and "ENV_VARS_TO_PROPAGATE" in source


def test_tune_registry_is_the_object_tunes_lookups_go_through() -> None:
    from ray.tune import registry

    found = compat.tune_registry()
    assert found is not None, "ray.tune.registry._global_registry moved"
    store, category = found
    assert store is registry._global_registry
    assert category == registry.TRAINABLE_CLASS
    # Tune's lookups of a trial's trainable read through the registry object's methods.
    assert "_global_registry.get(TRAINABLE_CLASS" in inspect.getsource(
        registry.get_trainable_cls)
    assert "_global_registry.contains(TRAINABLE_CLASS" in inspect.getsource(
        registry._has_trainable)
    for method in ("get", "contains", "register", "unregister", "unregister_all"):
        assert callable(getattr(store, method)), method


def test_the_gcs_client_answers_the_instance_hpo_started(ray_cluster: None) -> None:
    import ray
    from ray._raylet import GcsClient  # type: ignore[attr-defined]

    assert callable(GcsClient)
    assert compat.gcs_auth_check(ray.get_runtime_context().gcs_address) == "ok"


def test_auto_address_lookup_and_token_enabling_are_where_hpo_expects() -> None:
    from ray._private import services
    from ray._private.authentication import authentication_token_setup as setup

    assert callable(services.canonicalize_bootstrap_address_or_die)
    params = inspect.signature(setup.maybe_enable_token_auth_if_token_available).parameters
    assert "warn_if_disabled" in params
    # What hpo tells users about tokens is what Ray reads.
    assert setup.AUTH_MODE_ENV_VAR == "RAY_AUTH_MODE"
    assert setup._get_default_token_path() == setup.Path.home() / ".ray" / "auth_token"
    assert os.environ.get("RAY_AUTH_MODE", "token") in ("token", "disabled")
