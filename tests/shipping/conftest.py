"""Fixtures of the shipping tests: a finished synthetic search in a throw-away store."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

NOISY = """\
name: ship-noisy
trainable: tests.shipping._trainables:noisy
objective: {metric: score, direction: maximize}
sampler: {name: random, options: {seed: 3}}
scheduler: {name: fifo}
budget: {trials: 6, max_steps: 2}
concurrency: 2
params:
  x: {type: float, low: 0.0, high: 1.0}
  noise: 0.05
"""


@pytest.fixture
def noisy_space(tmp_path: Path) -> Path:
    path = tmp_path / "ship_noisy.yaml"
    path.write_text(textwrap.dedent(NOISY))
    return path


@pytest.fixture
def noisy_search(ray_cluster: None, noisy_space: Path, sqlite_url: str) -> tuple[str, str]:
    """A finished 6-trial search of the noisy trainable: ``(study name, storage URL)``."""
    from hpo.execution import run_search
    from hpo.spaces import load_space

    run_search(load_space(noisy_space), study_name="ship-noisy", storage=sqlite_url,
               progress=False, score_test=False)
    return "ship-noisy", sqlite_url
