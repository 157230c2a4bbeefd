"""Space files and store reads shared by the reliability tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna


def write_space(folder: Path, name: str, trainable: str, params: str, *,
                metric: str = "score", direction: str = "maximize", trials: int = 4,
                max_steps: int = 5, scheduler: str = "fifo",
                sampler: str = "{name: random, options: {seed: 0}}", concurrency: int = 2,
                extra: str = "") -> Path:
    """A space for ``tests.reliability._trainables:<trainable>`` with a marker folder."""
    markers = folder / "markers"
    markers.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ntrainable: tests.reliability._trainables:{trainable}\n"
        f"objective: {{metric: {metric}, direction: {direction}}}\n"
        f"sampler: {sampler}\nscheduler: {scheduler}\n"
        f"budget: {{trials: {trials}, max_steps: {max_steps}}}\n"
        f"concurrency: {concurrency}\n{extra}"
        f"params:\n  marker_dir: {json.dumps(str(markers))}\n{params}")
    return path


def markers(folder: Path) -> dict[str, dict[str, Any]]:
    """Every marker file the trainables left, by name."""
    return {p.name: json.loads(p.read_text())
            for p in sorted((folder / "markers").glob("*.json"))}


def trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).trials
