"""Ray internals hpo relies on, each with what it reads and what it falls back to.

Everything else in hpo uses Ray's public API. Each helper here is guarded: if the
installed Ray moved the structure it reads, the helper does nothing (or answers
"unknown") and Ray's own behaviour runs unchanged, only slower or with a less precise
message. ``tests/compat/test_ray_canary.py`` has a canary per helper that fails loudly
when a Ray upgrade moves the structure, so the fallback is never silent in CI.

* :func:`tune_stop_requested`: the stop event of Ray Tune's function-trainable session
  (``ray.train._internal.session.get_session().stop_event``). Ray has no public way
  for a trainable to ask whether it was stopped between two reports; ``hpo.should_stop()``
  needs it so a stopped trial leaves mid-epoch and its reused actor is free at once.
  Fallback: False (a stopped trial then runs until its next report).
* :func:`tune_actors_on_started_workers`: Ray Tune's per-actor environment tables
  (``ray.tune.execution.class_cache.DEFAULT_ENV_VARS`` / ``ENV_VARS_TO_PROPAGATE``).
  Fallback: Tune's tables unchanged (the first trials wait for fresh workers).
* :func:`memoized_trainable_lookups`: Ray Tune's trainable registry
  (``ray.tune.registry._global_registry``). Fallback: Ray's own lookups.
* :func:`gcs_auth_check` / :func:`resolve_auto_address` / :func:`enable_token_auth_if_available`:
  a quick look at a cluster before ``ray.init`` joins it (``ray._raylet.GcsClient``,
  ``ray._private.services``, ``ray._private.authentication``), so a missing or wrong
  token is one clear line instead of ``ray.init``'s 20 s retry loop. Fallback:
  "unknown", and ``ray.init`` reports the problem its own way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

# --------------------------------------------------------------------------- stop event


def tune_stop_requested() -> bool:
    """True once Ray Tune asked the running function trainable to stop.

    Ray sets the session's ``stop_event`` when it stops a trial; Ray itself checks it
    only inside ``tune.report``. False outside a Tune trial or if the structure moved.
    """
    try:
        from ray.train._internal.session import get_session
    except ImportError:
        return False
    session = get_session()
    event = getattr(session, "stop_event", None)
    return bool(event is not None and event.is_set())


# ------------------------------------------------------------- Tune's per-actor variables

# What Ray Tune gives every trial actor through a ``runtime_env``
# (``ray.tune.execution.class_cache.DEFAULT_ENV_VARS``), known here so that the local
# instance's workers can inherit it without importing Ray Tune before Ray starts
# (0.6 s, on the start-up's critical path). The canary checks it is still Tune's table.
TUNE_ACTOR_ENV = {"PL_DISABLE_FORK": "1"}


def tune_actor_env_tables() -> tuple[dict[str, str], set[str]] | None:
    """Ray Tune's (DEFAULT_ENV_VARS, ENV_VARS_TO_PROPAGATE), or None if they moved."""
    try:
        from ray.tune.execution import class_cache

        defaults = class_cache.DEFAULT_ENV_VARS
        copied = class_cache.ENV_VARS_TO_PROPAGATE
    except (ImportError, AttributeError):
        return None
    if not isinstance(defaults, dict) or not isinstance(copied, set):
        return None
    return defaults, copied


@contextlib.contextmanager
def tune_actors_on_started_workers(worker_env: dict[str, str]) -> Iterator[None]:
    """While Ray Tune runs, it gives trial actors no ``runtime_env`` the workers have.

    Ray Tune creates trial actors with a ``runtime_env`` of a few fixed variables
    (``PL_DISABLE_FORK=1``) and of those it copies from this process's environment
    (such as ``RAY_TRAIN_V2_ENABLED``). A worker started with the instance has no
    runtime environment, so it never matches such an actor: every first trial then
    waits for a fresh worker process. ``worker_env`` is the environment the local
    instance's workers inherited (empty: this process joined a cluster, nothing
    changes). Where they inherited exactly those values, Tune's copy is left out within
    the block and the trials get the started workers; a variable the workers lack
    keeps Tune's copy (correct, only slower). Tune's tables are restored afterwards.
    """
    tables = tune_actor_env_tables()
    if tables is None or not worker_env:
        yield
        return
    defaults, copied = tables
    saved = (dict(defaults), set(copied))
    if all(worker_env.get(key) == value for key, value in defaults.items()):
        defaults.clear()
    for key in [k for k in copied if k in os.environ]:
        if worker_env.get(key) == os.environ[key]:
            copied.discard(key)
    try:
        yield
    finally:
        defaults.clear()
        defaults.update(saved[0])
        copied.clear()
        copied.update(saved[1])


# ------------------------------------------------------------ Tune's trainable registry


def tune_registry() -> Any:
    """Ray Tune's global registry object and its trainable category, or None if moved."""
    try:
        from ray.tune import registry

        store = registry._global_registry
        category = registry.TRAINABLE_CLASS
        for name in ("get", "contains", "register", "unregister"):
            getattr(store, name)
    except (ImportError, AttributeError):
        return None
    return store, category


@contextlib.contextmanager
def memoized_trainable_lookups() -> Iterator[None]:
    """Within the block, Tune's registry reads each trainable from the GCS once.

    Ray Tune looks the trainable up in the GCS key-value store for every trial it
    creates (an existence check, and a read plus an unpickling each for the trial's
    resources and its actor). The registered trainable does not change while
    ``Tuner.fit`` runs, so repeated lookups are answered from the first answer;
    registering or removing anything clears the memo.
    """
    found_registry = tune_registry()
    if found_registry is None:
        yield
        return
    store, category = found_registry
    names = ["get", "contains", "register", "unregister"]
    if hasattr(store, "unregister_all"):
        names.append("unregister_all")
    originals = {name: getattr(store, name) for name in names}
    memo: dict[Any, Any] = {}
    found: set[Any] = set()

    def get(cat: str, key: str) -> Any:
        if cat != category:
            return originals["get"](cat, key)
        if key not in memo:
            memo[key] = originals["get"](cat, key)
        return memo[key]

    def contains(cat: str, key: str) -> bool:
        if cat != category:
            return bool(originals["contains"](cat, key))
        if key in found or key in memo:
            return True
        present = bool(originals["contains"](cat, key))
        if present:
            found.add(key)
        return present

    def clearing(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            memo.clear()
            found.clear()
            return method(*args, **kwargs)

        return call

    # Instance attributes shadow the class's methods for as long as the block runs.
    replacements: dict[str, Callable[..., Any]] = {"get": get, "contains": contains}
    for name in names[2:]:
        replacements[name] = clearing(originals[name])
    for name, method in replacements.items():
        setattr(store, name, method)
    try:
        yield
    finally:
        for name in originals:
            # The originals are bound methods of the instance; dropping the instance
            # attributes brings the class's methods back.
            store.__dict__.pop(name, None)


# ------------------------------------------------------- a quick look before ray.init


def resolve_auto_address(address: str) -> str | None:
    """``auto`` -> the host:port Ray itself would join (a local ``ray start``), or None.

    None when Ray finds no running cluster or the lookup moved; the caller then leaves
    the address to ``ray.init``.
    """
    try:
        from ray._private import services

        return str(services.canonicalize_bootstrap_address_or_die(address))
    except Exception:  # noqa: BLE001 - not found or moved: ray.init decides
        return None


def enable_token_auth_if_available() -> None:
    """What ``ray.init(address="auto")`` does first: token mode if a token exists.

    Ray turns token authentication on for this process when ``RAY_AUTH_MODE`` is unset
    and a token is found by its conventions; doing it before the quick look makes the
    look see what ``ray.init`` will see. Nothing if the function moved.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:
        return
    with contextlib.suppress(Exception):
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def gcs_auth_check(address: str) -> str:
    """Ask the GCS at ``address`` for its cluster id the way ``ray status`` does.

    Returns "ok" (it answered), "refused" (it refused this process's token, or the lack
    of one: ``ray.exceptions.AuthenticationError``) or "unknown" (anything else, or
    the client moved). Takes about 20-50 ms against a live GCS. Only call it when the
    address accepts TCP connections (an address nobody listens on makes the client wait
    its full 40 s) and, in token mode, when a token exists (the client aborts the
    process without one).
    """
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.exceptions import AuthenticationError
    except ImportError:
        return "unknown"
    try:
        GcsClient(address=address)
    except AuthenticationError:
        return "refused"
    except Exception:  # noqa: BLE001 - other trouble: ray.init reports it
        return "unknown"
    return "ok"
