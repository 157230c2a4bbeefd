"""``benchmarks/finalize_pick.py`` in a tiny setting: every figure it prints is computed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

# A smoke run of benchmarks/finalize_pick.py: about 3 minutes on two cores, so only
# with -m bench (the commands it drives are tested in tests/shipping).
pytestmark = [pytest.mark.slow, pytest.mark.bench]


def test_the_benchmark_runs_end_to_end_on_tiny_data(ray_cluster: None, tmp_path: Path) -> None:
    from benchmarks.finalize_pick import main

    out = main(["--train-size", "40", "--validation-size", "24", "--test-size", "40",
                "--trials", "2", "--top-k", "2", "--seeds", "2", "--epochs", "1",
                "--storage", f"sqlite:///{tmp_path / 'pick.db'}", "--study", "ship-bench"])
    assert set(out["picks"]) == {"finalized pick", "best trial", "default recipe"}
    for iv in out["picks"].values():
        assert iv["n"] == 2 and iv["low"] <= iv["mean"] <= iv["high"]
    assert all(math.isfinite(v) for v in out["optimism"].values())
