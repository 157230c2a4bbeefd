"""Shared fixtures: one Ray instance per test session, throw-away stores, space builders."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("HPO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """Ray started once for every test that runs searches (start-up costs seconds)."""
    os.chdir(ROOT)  # workers import test trainables ("tests._trainables:...") from here
    from hpo.execution._ray_init import ensure_ray

    started = ensure_ray(num_cpus=2)
    yield
    if started:
        import ray

        ray.shutdown()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def _postgres_reachable() -> bool:
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@pytest.fixture
def postgres_url() -> str:
    if not _postgres_reachable():
        if os.environ.get("HPO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_URL}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    return POSTGRES_URL


SYNTHETIC = """\
name: {name}
trainable: {trainable}
objective: {{metric: score, direction: {direction}, value: {value}}}
sampler: {{name: {sampler}, options: {{seed: 0}}}}
scheduler: {scheduler}
budget: {{trials: {trials}, max_steps: {steps}}}
concurrency: 2
params:
  x: {{type: float, low: 0.0, high: 1.0}}
  y: {{type: float, low: 0.0, high: 1.0}}
  steps: {steps}
  sleep: {sleep}
{extra}"""


@pytest.fixture
def synthetic_space(tmp_path: Path) -> Callable[..., Path]:
    """Writes a synthetic-trainable space file; keyword arguments fill the template."""

    def make(extra: str = "", **fields: object) -> Path:
        values: dict[str, object] = {
            "name": "syn", "trainable": "synthetic", "direction": "maximize", "value": "best",
            "sampler": "tpe", "scheduler": "{name: asha, options: {grace_period: 1}}",
            "trials": 8, "steps": 4, "sleep": 0.05,
        }
        values.update(fields)
        text = SYNTHETIC.format(extra=textwrap.indent(textwrap.dedent(extra), "  "), **values)
        path = tmp_path / f"{values['name']}.yaml"
        path.write_text(text)
        return path

    return make
