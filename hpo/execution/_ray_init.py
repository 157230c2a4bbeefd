"""Starting (or joining) Ray quietly, with what trial workers need in their environment."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

# Set before Ray is imported anywhere: no result files, no progress tables, no
# per-trial logger callbacks; the ledger and hpo's own progress line report instead.
QUIET_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000000",
    "RAY_TRAIN_V2_ENABLED": "0",
    # Tune's own experiment snapshots (every ~10 s, ~50 ms of the driver loop each) serve
    # Tune's restore, which hpo does not use: the Optuna study is the search's state.
    "TUNE_GLOBAL_CHECKPOINT_S": "3600",
    # The driver reads the data once to describe it; no progress bars for that.
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
WORKER_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "PYTHONWARNINGS": "ignore",
}


def quiet_environment() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def ensure_ray(address: str | None = None, num_cpus: float | None = None,
               show_worker_logs: bool = False) -> bool:
    """Start Ray (or connect to ``address``) unless it is running; True if started here."""
    quiet_environment()
    from hpo._imports import require

    ray = require("ray")
    if ray.is_initialized():
        return False
    env = dict(WORKER_ENV)
    # Workers import user trainables ("module:function") from the current directory.
    paths = [os.getcwd(), *[p for p in sys.path if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    for key in ("HF_HUB_OFFLINE", "HF_HOME", "HF_DATASETS_OFFLINE", "HPO_CACHE"):
        if key in os.environ:
            env[key] = os.environ[key]
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": show_worker_logs,
        # ERROR during start-up: Ray logs a notice about its token authentication at
        # every start; hpo keeps the authentication and drops the notice.
        "logging_level": logging.ERROR,
    }
    if address:
        kwargs["address"] = address
        kwargs["runtime_env"] = {"env_vars": env}
    else:
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        kwargs["_system_config"] = {**START_CONFIG,
                                    "preload_python_modules": list(TRIAL_MODULES)}
        env.update(TUNE_ACTOR_ENV)
    _WORKER_ENV.clear()
    with warnings.catch_warnings(), _environ({} if address else env), \
            _quick_node_wait(enabled=not address), \
            _lean_head(enabled=not address, log_monitor=show_worker_logs):
        warnings.simplefilter("ignore")
        ray.init(**kwargs)
        if not address:  # workers inherit the environment the instance started with
            _WORKER_ENV.update(os.environ)
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return True


# A Ray process that connects to a local socket not yet created retries after
# ``raylet_client_connect_timeout_milliseconds`` (1 s by default). At start-up the
# raylet's own object-store client races the store it has just started; losing the
# race (about one start in three here) cost a whole second. Retry every 20 ms
# instead, as many times, so the overall patience stays 10 s.
START_CONFIG = {
    "raylet_client_connect_timeout_milliseconds": 20,
    "raylet_client_num_connect_attempts": 500,
}


@contextlib.contextmanager
def _lean_head(enabled: bool = True, log_monitor: bool = False) -> Iterator[None]:
    """While a local Ray instance starts, leave out the processes a search never uses.

    A single-machine instance that hpo starts for one search has no use for Ray's
    autoscaler monitor (nothing to scale), its API server (job submission and the
    state API; the dashboard is off) or, unless worker output is shown, its log
    monitor (which forwards worker output to the driver). Each is a Python process
    that imports for most of a second; on a small machine they compete for the
    cores with the processes the start-up waits for, and the raylet itself is only
    started once the API server is up. Leaving them out makes Ray's start-up about
    0.8 s shorter here. ``ray status`` and ``ray job`` do not work against such an
    instance. Ray's private structure: if it moves, every process starts as usual.
    """
    try:
        from ray._private.node import Node

        names = ["start_monitor", "start_api_server"]
        if not log_monitor:
            names.append("start_log_monitor")
        originals = {name: Node.__dict__[name] for name in names}
    except (ImportError, KeyError):
        enabled = False
    if not enabled:
        yield
        return

    def skipped(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    for name in originals:
        setattr(Node, name, skipped)
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(Node, name, method)


# What every trial actor imports: Ray Tune's function trainable (0.6 s, most of an
# actor's start) and hpo's wrapper. Workers started with the instance import them
# before taking work, while the driver is still opening the study, instead of
# when the first trials start.
TRIAL_MODULES = ("ray.tune.trainable.function_trainable", "hpo.trainables._wrap")


@contextlib.contextmanager
def _quick_node_wait(enabled: bool = True) -> Iterator[None]:
    """While a local Ray instance starts, wait for its raylet in 20 ms steps, not 1 s.

    ``ray.init`` asks the GCS for the new raylet's registration in a loop that sleeps a
    whole second between tries; the raylet registers about 0.7 s after it starts, so
    every start paid the full second. Polling the GCS's node table first (a cheap
    request) and only then calling Ray's own lookup, which then succeeds at once,
    removes the rest of that second. Ray's private structure: if it moves, Ray's own
    loop runs unchanged.
    """
    try:
        import ray._private.services as services
        from ray._private.state import GlobalState

        original = services.get_node
        client_options = services._get_gcs_client_options
    except (ImportError, AttributeError):
        enabled = False
    if not enabled:
        yield
        return

    def get_node(gcs_address: str, node_id: str) -> Any:
        with contextlib.suppress(Exception):  # any trouble: Ray's own loop decides
            state = GlobalState()
            state._initialize_global_state(client_options(gcs_address))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                nodes = state.node_table()
                if any(not {"NodeID", "Alive"} <= set(node) for node in nodes):
                    break  # a table this code does not know: leave it to Ray's loop
                if any(node["NodeID"] == node_id and node["Alive"] for node in nodes):
                    break
                time.sleep(0.02)
        return original(gcs_address, node_id)

    services.get_node = get_node
    try:
        yield
    finally:
        services.get_node = original


# The variables Ray Tune gives every trial actor through a ``runtime_env``
# (``ray.tune.execution.class_cache.DEFAULT_ENV_VARS``), known here so that Ray can
# start without importing Ray Tune first (0.6 s, on the start-up's critical path).
TUNE_ACTOR_ENV = {"PL_DISABLE_FORK": "1"}

# The environment the workers of the Ray instance started here inherited (empty
# when this process joined a running instance).
_WORKER_ENV: dict[str, str] = {}


@contextlib.contextmanager
def tune_actors_on_started_workers() -> Iterator[None]:
    """While Ray Tune runs, it gives trial actors no ``runtime_env`` the workers have.

    Ray Tune creates trial actors with a ``runtime_env`` of a few fixed variables
    (``PL_DISABLE_FORK=1``) and of those it copies from this process's environment
    (such as ``RAY_TRAIN_V2_ENABLED``). A worker started with the instance has no
    runtime environment, so it never matches such an actor: every first trial then
    waits for a fresh worker process (about 1 s more here, and Ray's started workers
    sit idle). Where the workers of the instance started here inherited exactly those
    values, Tune's copy is left out within the block and the trials get the started
    workers; a variable the workers lack keeps Tune's copy (correct, only slower).
    Tune's tables are restored afterwards; nothing changes for an instance this
    process did not start.
    """
    try:  # Ray Tune's internal tables; if they move, trials start on fresh workers
        from ray.tune.execution import class_cache

        defaults: dict[str, str] = class_cache.DEFAULT_ENV_VARS
        copied: set[str] = class_cache.ENV_VARS_TO_PROPAGATE
        saved = (dict(defaults), set(copied))
    except (ImportError, AttributeError, TypeError):
        yield
        return
    if _WORKER_ENV:
        if all(_WORKER_ENV.get(key) == value for key, value in defaults.items()):
            defaults.clear()
        for key in [k for k in copied if k in os.environ]:
            if _WORKER_ENV.get(key) == os.environ[key]:
                copied.discard(key)
    try:
        yield
    finally:
        defaults.clear()
        defaults.update(saved[0])
        copied.clear()
        copied.update(saved[1])


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` in this process while a local Ray instance starts, then restore it.

    Workers of a Ray instance started here inherit its processes' environment, so the
    worker variables need no ``runtime_env``; any ``runtime_env`` at all would keep
    Ray from handing trials the worker processes it starts with the instance, and each
    first trial would wait for a fresh process (about 0.7 s more here).
    """
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stop_ray() -> None:
    """Shut down the Ray instance this process started, without Ray's idle waits.

    ``ray.shutdown()`` asks each Ray process to exit and gives it a second; the
    autoscaler monitor of a single-machine instance never exits on that request,
    so every search paid a full second for it. It holds no state: kill it first
    (an instance started here has none unless Ray's start-up moved, see
    :func:`_lean_head`).
    """
    import ray

    try:  # private structure: if it moves, fall back to the plain shutdown
        node = ray._private.worker._global_node
        infos: list[Any] = node.all_processes.get("monitor", []) if node is not None else []
        for info in infos:
            info.process.kill()
            info.process.wait(timeout=5)
    except Exception:  # noqa: BLE001
        pass
    _WORKER_ENV.clear()
    ray.shutdown()
