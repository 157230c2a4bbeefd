"""Starting or joining Ray: which instance, what travels to the workers, clear refusals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo.execution import _ray_init, _ray_instances


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


def test_ray_status_works_against_the_instance_hpo_starts(ray_cluster: None) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    # The instance runs Ray's usual processes (autoscaler monitor included): `ray status`
    # answers. Token mode as Ray set it for this process's instance (RAY_AUTH_MODE=token).
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
    ray_cli = Path(sys.executable).with_name("ray")
    deadline = time.monotonic() + 30
    while True:
        out = subprocess.run([str(ray_cli), "status", "--address", address], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        if "Resources" in out.stdout or time.monotonic() > deadline:
            break
        time.sleep(1)  # the monitor publishes its first status a few seconds in
    assert "Resources" in out.stdout, out.stdout


class _FakeInit:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)

        class Context:
            address_info = {"session_dir": None, "gcs_address": None}

        return Context()


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_FakeInit]:
    """ensure_ray with ``ray.init`` recorded instead of run; the real state is put back."""
    import ray

    fake = _FakeInit()
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake)
    monkeypatch.setenv("HPO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(_ray_init, "_check_cluster", lambda target: "10.0.0.1:6379")
    saved = dict(_ray_init._WORKER_ENV)
    yield fake
    _ray_init._WORKER_ENV.clear()
    _ray_init._WORKER_ENV.update(saved)


def test_without_an_address_hpo_starts_its_own_instance_explicitly(fake_ray: _FakeInit) -> None:
    assert _ray_init.ensure_ray(num_cpus=2) is True
    (call,) = fake_ray.calls
    # "local": never the cluster a `ray start` on this machine recorded.
    assert call["address"] == "local"
    assert call["num_cpus"] == 2
    assert "_system_config" not in call and "runtime_env" not in call
    _ray_instances.forget_instance()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_an_address_or_ray_address_joins_with_the_code_in_working_dir(
        fake_ray: _FakeInit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        how: str) -> None:
    monkeypatch.chdir(tmp_path)
    if how == "environment":
        monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert _ray_init.ensure_ray("10.0.0.1:6379" if how == "argument" else None,
                                num_cpus=2) is True
    (call,) = fake_ray.calls
    assert call["address"] == "10.0.0.1:6379"
    # Joining takes neither a system config nor CPUs (Ray refuses both).
    assert "_system_config" not in call and "num_cpus" not in call
    env = call["runtime_env"]
    assert env["working_dir"] == str(tmp_path)
    assert "/hpo-results" in env["excludes"] and ".venv" in env["excludes"]
    assert env["env_vars"]["TOKENIZERS_PARALLELISM"] == "false"
    assert "PYTHONPATH" not in env["env_vars"]  # the driver's paths mean nothing there


def test_a_dead_drivers_leftovers_are_cleaned_when_ray_starts(
        fake_ray: _FakeInit, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[dict[str, Any]] = []

    def clean(**kwargs: Any) -> list[Any]:
        called.append(kwargs)
        return []

    monkeypatch.setattr(_ray_instances, "clean_dead_instances", clean)
    _ray_init.ensure_ray()
    assert called == [{}]
    _ray_instances.forget_instance()


def test_a_submitted_job_keeps_its_own_working_dir(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    job = {"runtime_env": {"working_dir": "gcs://_ray_pkg_x.zip",
                           "env_vars": {"PYTHONWARNINGS": "default"}}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    env = _ray_init.cluster_runtime_env(str(tmp_path))
    # Ray refuses a driver that sets a field or variable its job already sets.
    assert "working_dir" not in env and "excludes" not in env
    assert "PYTHONWARNINGS" not in env["env_vars"]
    assert env["env_vars"]["TOKENIZERS_PARALLELISM"] == "false"


def test_working_dir_leaves_out_results_environments_and_caches(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ray._private.runtime_env.packaging import _get_excludes

    for folder in ("hpo-results", ".venv", "myenv", ".git", "pkg/__pycache__",
                   "models/hub", "raytmp/session_1", "pkg"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "raytmp" / "session_latest").symlink_to(tmp_path / "raytmp" / "session_1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "models"))
    excluded = _get_excludes(tmp_path, _ray_init.working_dir_excludes(tmp_path))
    for path in ("hpo-results/hpo.db", ".venv/bin/python", "myenv/bin/python", ".git/HEAD",
                 "pkg/__pycache__/m.cpython-311.pyc", "models/hub/model.bin",
                 "raytmp/session_1/logs/raylet.out",
                 # a store beside the code: shipping it would drop the driver's locks
                 "study.db", "study.db-wal", "study.db-shm", "study.db.hpo-lock",
                 "pkg/runs.sqlite3", "old.db-journal"):
        assert excluded(tmp_path / path), path
    for path in ("trainable.py", "pkg/module.py", "space.yaml"):
        assert not excluded(tmp_path / path), path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_address_nobody_answers_is_one_clear_error_at_once() -> None:
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(_ray_init.RayConnectError, match=f"no Ray cluster answers at "
                                                        f"127.0.0.1:{port}"):
        _ray_init._check_cluster(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 2
    with pytest.raises(_ray_init.RayConnectError, match="expected auto or HOST:PORT"):
        _ray_init._check_cluster("nonsense")


def test_token_messages_name_rays_conventions(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(key, raising=False)
    message = _ray_init._token_message("h:1")
    assert message.startswith("the Ray cluster at h:1 requires a token: set RAY_AUTH_MODE=token")
    assert "RAY_AUTH_TOKEN" in message and "~/.ray/auth_token" in message
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert _ray_init._token_source() is None
    assert "no token was found" in _ray_init._token_message("h:1")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("abc")
    assert _ray_init._token_source() == str(tmp_path / ".ray" / "auth_token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    assert _ray_init._token_source() is None
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret")
    assert _ray_init._token_source() == "RAY_AUTH_TOKEN"
    assert "refused the token from RAY_AUTH_TOKEN" in _ray_init._token_message("h:1")
    assert "secret" not in _ray_init._token_message("h:1")
    # One line each: the CLI prints it after "hpo run: SPACE: ".
    assert "\n" not in message


def test_every_report_names_the_trials_worker_and_node(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from ray import tune

    from hpo.trainables import _wrap

    sent: list[dict[str, Any]] = []
    asked: list[int] = []

    class Context:
        def get_node_id(self) -> str:
            asked.append(1)
            return "ab" * 28

    monkeypatch.setattr(ray, "get_runtime_context", Context)
    monkeypatch.setattr(tune, "report", sent.append)
    report, _ = _wrap._reporters()
    report({"score": 1.0})
    report({"score": 2.0})
    assert [m["hpo_node"] for m in sent] == ["ab" * 28] * 2
    assert all(m["hpo_worker"] == f"{socket.gethostname()}:{os.getpid()}" for m in sent)
    assert asked == [1]  # looked up once per trial, not per report
