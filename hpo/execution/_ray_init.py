"""Starting (or joining) Ray quietly, with what trial workers need in their environment.

Which Ray: ``ensure_ray(address)`` with an address (``auto`` or ``HOST:PORT``), else
``$RAY_ADDRESS``, joins that cluster; with neither, hpo starts a local instance of its
own (``ray.init(address="local")``), so it never silently joins a cluster a local
``ray start`` recorded. The local instance is a plain Ray instance (``ray status
--address ...`` works against it); it is recorded in :mod:`hpo.execution._ray_instances`
so that a later run or ``hpo doctor`` can clean up after a driver killed with SIGKILL.

Joining a cluster: a quick look first (TCP, then the GCS's answer to this process's
token, about 50 ms), so an unreachable address or a missing or wrong token is one
:class:`RayConnectError` line instead of ``ray.init``'s 20 s retry loop. Tokens follow
Ray's conventions only: ``RAY_AUTH_MODE=token`` with the token in ``RAY_AUTH_TOKEN``, in
the file ``$RAY_AUTH_TOKEN_PATH`` or in ``~/.ray/auth_token`` (Ray enables token mode by
itself only for ``auto``). The user's code travels to the cluster's workers in Ray's
``working_dir`` (the current directory, without results, virtual environments, VCS
data and caches: :func:`working_dir_excludes`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hpo._compat.ray import TUNE_ACTOR_ENV

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
}
# Passed on to the workers when set here (offline switches, cache locations).
PASSED_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "HF_DATASETS_OFFLINE", "HPO_CACHE")

__all__ = ["TUNE_ACTOR_ENV", "WORKER_ENV", "RayConnectError", "ensure_ray", "ray_is_up",
           "ray_target", "stop_ray", "tune_actors_on_started_workers", "working_dir_excludes"]

# Ray's token conventions (see ray.exceptions.AuthenticationError).
AUTH_MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
# How long the quick look waits for a TCP connection to the cluster's GCS.
CONNECT_TIMEOUT_S = 5.0


class RayConnectError(ValueError):
    """hpo could not join the Ray cluster it was pointed at; the message says why."""


def quiet_environment() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def ensure_ray(address: str | None = None, num_cpus: float | None = None,
               show_worker_logs: bool = False,
               temp_dirs: Sequence[str] = ()) -> bool:
    """Start Ray (or join a cluster) unless it is running here; True if started here.

    Args:
        address: ``auto`` or ``HOST:PORT`` of a cluster to join; default ``$RAY_ADDRESS``;
            with neither, a local instance of this process's own is started.
        num_cpus: CPUs of the local instance (ignored when joining).
        show_worker_logs: forward the workers' output to this process.
        temp_dirs: folders this search made (hpo's ``hpo-ray-*``): recorded with the
            local instance, so they are removed if this process dies without cleaning up.

    Raises:
        RayConnectError: the cluster cannot be reached or refuses this process's token.
    """
    quiet_environment()
    from hpo._imports import require

    ray = require("ray")
    if ray.is_initialized():
        return False
    from hpo.execution import _ray_instances

    _ray_instances.clean_dead_instances()
    target = ray_target(address)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": show_worker_logs,
        # ERROR during start-up: Ray logs a notice about its token authentication at
        # every start; hpo keeps the authentication and drops the notice.
        "logging_level": logging.ERROR,
    }
    _WORKER_ENV.clear()
    if target:
        _join(ray, target, kwargs)
    else:
        _start_local(ray, num_cpus, kwargs, list(temp_dirs))
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return True


def ray_target(address: str | None = None) -> str | None:
    """The cluster ``ensure_ray(address)`` joins; None when it starts a local instance."""
    return address or os.environ.get("RAY_ADDRESS") or None


def ray_is_up() -> bool:
    """Whether this process is connected to Ray already (``ensure_ray`` then does nothing);
    never imports Ray."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def _worker_env() -> dict[str, str]:
    env = dict(WORKER_ENV)
    for key in PASSED_ENV:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _start_local(ray: Any, num_cpus: float | None, kwargs: dict[str, Any],
                 temp_dirs: list[str]) -> None:
    from hpo.execution import _ray_instances

    env = _worker_env()
    # Workers import user trainables ("module:function") from the current directory.
    paths = [os.getcwd(), *[p for p in sys.path if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(TUNE_ACTOR_ENV)
    if num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    # Written before Ray starts (so a kill during the start still leaves the folders
    # findable), completed with the session once Ray is up.
    record = _ray_instances.register_instance(temp_dirs=temp_dirs)
    with _environ(env):
        context = ray.init(address="local", **kwargs)
        # Workers inherit the environment the instance started with.
        _WORKER_ENV.update(os.environ)
    info = getattr(context, "address_info", None) or {}
    _ray_instances.register_instance(
        temp_dirs=temp_dirs, session_dir=info.get("session_dir"),
        gcs_address=info.get("gcs_address"), path=record)


def _join(ray: Any, target: str, kwargs: dict[str, Any]) -> None:
    gcs = _check_cluster(target)
    kwargs["address"] = target
    kwargs["runtime_env"] = cluster_runtime_env(os.getcwd())
    from ray.exceptions import AuthenticationError, RuntimeEnvSetupError

    try:
        ray.init(**kwargs)
    except RuntimeEnvSetupError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise RayConnectError(
            f"could not ship the working directory {os.getcwd()} to the Ray cluster at "
            f"{gcs or target}: {lines[-1] if lines else exc}") from None
    except (ConnectionError, RuntimeError, AuthenticationError) as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, AuthenticationError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise RayConnectError(_token_message(gcs or target)) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayConnectError(f"could not join the Ray cluster at {gcs or target}: "
                              f"{first}") from None


def _token_source() -> str | None:
    """Where Ray would take this process's token from, by Ray's conventions; None if none."""
    if os.environ.get(TOKEN_VAR, "").strip():
        return TOKEN_VAR
    path = os.environ.get(TOKEN_PATH_VAR)
    if path:
        try:
            return f"{path} ({TOKEN_PATH_VAR})" if Path(path).read_text().strip() else None
        except OSError:
            return None
    default = Path.home() / ".ray" / "auth_token"
    try:
        return str(default) if default.read_text().strip() else None
    except OSError:
        return None


def _token_mode() -> bool:
    return os.environ.get(AUTH_MODE_VAR, "").strip().lower() == "token"


def _token_message(where: str) -> str:
    if not _token_mode():
        return (f"the Ray cluster at {where} requires a token: set {AUTH_MODE_VAR}=token "
                f"and give the cluster's token in {TOKEN_VAR}, in the file "
                f"${TOKEN_PATH_VAR} or in ~/.ray/auth_token (`ray get-auth-token` on the "
                "head node prints it)")
    source = _token_source()
    if source is None:
        return (f"{AUTH_MODE_VAR}=token but no token was found for the Ray cluster at "
                f"{where}: set {TOKEN_VAR}, point {TOKEN_PATH_VAR} at a file with it, or "
                "write it to ~/.ray/auth_token (`ray get-auth-token` on the head node "
                "prints it)")
    return (f"the Ray cluster at {where} refused the token from {source}: give the "
            f"cluster's own token in {TOKEN_VAR}, ${TOKEN_PATH_VAR} or ~/.ray/auth_token "
            "(`ray get-auth-token` on the head node prints it)")


def _check_cluster(target: str) -> str | None:
    """The quick look before ``ray.init`` joins ``target``; returns its host:port if known.

    Raises :class:`RayConnectError` for what would otherwise be a long retry loop: no
    cluster found for ``auto``, nothing listening, token mode without a token, or a
    token (or its lack) the cluster refuses. Anything it cannot tell is left to
    ``ray.init``.
    """
    from hpo._compat import ray as ray_compat

    if target == "auto":
        gcs = ray_compat.resolve_auto_address(target)
        if gcs is None:
            raise RayConnectError(
                "--address auto: no running Ray cluster was found on this machine "
                "(start one with `ray start --head`, or give HOST:PORT)")
        # What ray.init does for "auto": token mode if a token exists here.
        ray_compat.enable_token_auth_if_available()
    else:
        gcs = target
    host, _, port = gcs.rpartition(":")
    if not host or not port.isdigit():
        raise RayConnectError(f"bad Ray address {target!r}: expected auto or HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)),
                                      timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayConnectError(f"no Ray cluster answers at {gcs}: {reason} (is `ray start` "
                              "running there, and is the port the head's --port?)") from None
    if _token_mode() and _token_source() is None:
        raise RayConnectError(_token_message(gcs))
    with _captured_native_stderr():
        answer = ray_compat.gcs_auth_check(gcs)
    if answer == "refused":
        raise RayConnectError(_token_message(gcs))
    return gcs


@contextlib.contextmanager
def _captured_native_stderr() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 within the block.

    Ray's native client logs every refused attempt straight to the descriptor; the
    caller turns a refusal into one line of its own. Anything else written meanwhile
    (by other threads, say) is written out afterwards.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(True)
                    if "gcs_client.cc" not in line]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


# Never shipped in working_dir: results, virtual environments, VCS data, bytecode and
# tool caches, model and data caches. Ray's pathspec (gitignore syntax) matches the
# names anywhere in the tree; Ray also honours the folder's .gitignore and .rayignore.
WORKING_DIR_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "*.pyc",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules",
    ".cache", "huggingface", "wandb", "mlruns", "lightning_logs",
    # SQLite files, a store above all: Ray's packaging opens and closes every file it
    # ships, and closing any descriptor of a database drops this process's POSIX locks
    # on it, so a live store in the folder could lose its WAL to another process.
    "*.db", "*.sqlite", "*.sqlite3", "*-wal", "*-shm", "*-journal", "*.hpo-lock",
)
# Cache locations that, when they lie inside the working directory, are left out too.
CACHE_VARS = ("HPO_CACHE", "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE",
              "TRANSFORMERS_CACHE", "TORCH_HOME", "XDG_CACHE_HOME")


def working_dir_excludes(root: str | Path) -> list[str]:
    """Ray ``excludes`` for shipping ``root`` as the trials' working directory."""
    from hpo.storage._url import DEFAULT_DIR

    root = Path(root).resolve()
    excludes = [f"/{DEFAULT_DIR}", *WORKING_DIR_EXCLUDES]
    with contextlib.suppress(OSError):
        for child in sorted(root.iterdir()):
            # A virtual environment, or a Ray temp folder (--temp-dir), under any name.
            if child.is_dir() and ((child / "pyvenv.cfg").is_file()
                                   or (child / "session_latest").exists()):
                excludes.append(f"/{child.name}")
    for key in CACHE_VARS:
        value = os.environ.get(key)
        if not value:
            continue
        with contextlib.suppress(ValueError, OSError):
            inside = Path(value).resolve().relative_to(root)
            if inside.parts:
                excludes.append(f"/{inside.as_posix()}")
    return list(dict.fromkeys(excludes))


def cluster_runtime_env(cwd: str) -> dict[str, Any]:
    """The ``runtime_env`` of a driver joining a cluster: the user's code and variables.

    A driver submitted with ``ray job submit --working-dir ...`` already runs in a job
    whose runtime environment ships the code; Ray refuses a driver that sets the same
    fields or variables again, so only what the job lacks is added.
    """
    env = _worker_env()
    runtime_env: dict[str, Any] = {"working_dir": cwd, "excludes": working_dir_excludes(cwd)}
    job = _job_runtime_env()
    if job is not None:
        if "working_dir" in job or "py_modules" in job:
            runtime_env = {}
        job_vars = job.get("env_vars") or {}
        env = {k: v for k, v in env.items() if k not in job_vars}
    if env:
        runtime_env["env_vars"] = env
    return runtime_env


def _job_runtime_env() -> dict[str, Any] | None:
    """The runtime environment of the Ray job this driver was submitted as, if any."""
    import json

    text = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not text:
        return None
    try:
        found = json.loads(text).get("runtime_env")
    except (ValueError, AttributeError):
        return {}
    return found if isinstance(found, dict) else {}


# The environment the workers of the Ray instance started here inherited (empty
# when this process joined a running instance).
_WORKER_ENV: dict[str, str] = {}


@contextlib.contextmanager
def tune_actors_on_started_workers() -> Iterator[None]:
    """While Ray Tune runs, its trial actors can take the workers the instance started.

    See :func:`hpo._compat.ray.tune_actors_on_started_workers` (Ray Tune's private
    tables). Nothing changes for a cluster this process joined.
    """
    from hpo._compat.ray import tune_actors_on_started_workers as on_started_workers

    with on_started_workers(dict(_WORKER_ENV)):
        yield


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
    """Shut down Ray (``ray.shutdown()``) and forget the local instance's record."""
    import ray

    from hpo.execution import _ray_instances

    _WORKER_ENV.clear()
    ray.shutdown()
    _ray_instances.forget_instance()
