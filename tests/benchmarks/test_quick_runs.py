"""Every method of both benchmark scripts runs end to end in quick mode (tiny data).

They start real models (and Ray), so all but the cheapest are marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "benchmarks" / "finetune_vs_peers.py"
THROUGHPUT = ROOT / "benchmarks" / "trial_throughput.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _run(*args: str, timeout: float = 1800) -> str:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=timeout, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _peers(tmp_path: Path, task: str, methods: str, *extra: str) -> list[dict[str, Any]]:
    results = tmp_path / "quick.jsonl"
    stdout = _run(str(PEERS), "--quick", "--task", task, "--method", methods,
                  "--retrain-seeds", "0,1", "--results", str(results), *extra)
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["method"] for r in records] == methods.split(",")
    for rec in records:
        assert rec["quick"] is True and rec["task"] == task
        assert len(rec["test_accuracy"]) == 2
        assert all(0.0 <= a <= 1.0 for a in rec["test_accuracy"])
        assert rec["versions"]["torch"] and rec["machine"]["cpus"]
        assert f"| {task} |" in stdout and f"| {rec['method']} |" in stdout
        if rec["method"] != "recipe":
            assert 1 <= rec["trials"] <= 2
            assert rec["search_seconds"] > 0 and rec["best_validation"] is not None
    return records


def test_recipe_runs_on_text(tmp_path: Path) -> None:
    (rec,) = _peers(tmp_path, "rt", "recipe", "--keep", str(tmp_path / "kept"))
    kept = Path(rec["workdir"])
    assert kept.is_dir() and kept.parent == tmp_path / "kept"  # --keep: not a temp folder
    assert rec["config"]["learning_rate"] == 5e-5 and rec["config"]["batch_size"] == 32
    assert rec["within_budget"] is True and rec["trials"] == 1


@pytest.mark.slow
# The peers' quick runs take minutes each on two cores: `-m bench` runs them (hpo's own
# search path is tested throughout the suite; the recipe's quick run keeps the script's
# shared parts in CI).
@pytest.mark.parametrize("method", [pytest.param("hpo", marks=pytest.mark.bench),
                                    pytest.param("ray", marks=pytest.mark.bench),
                                    pytest.param("trainer", marks=pytest.mark.bench)])
def test_search_method_runs_on_text(tmp_path: Path, method: str) -> None:
    (rec,) = _peers(tmp_path, "rt", method)
    if method == "hpo":
        assert rec["notes"]["best_step"] >= 1
    if method == "ray":
        assert set(rec["config"]) >= {"learning_rate", "batch_size", "weight_decay"}
    if method == "trainer":
        assert set(rec["config"]) == {"learning_rate", "num_train_epochs", "seed",
                                      "per_device_train_batch_size"}


@pytest.mark.bench
@pytest.mark.slow
def test_every_method_runs_on_images(tmp_path: Path) -> None:
    _peers(tmp_path, "fmnist", "hpo,ray,trainer,recipe")


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/games/fortunes").is_dir(),
                    reason="Debian's fortunes package is not installed")
def test_fortunes_task_runs(tmp_path: Path) -> None:
    _peers(tmp_path, "fortunes", "recipe")


@pytest.mark.slow
def test_throughput_compare(tmp_path: Path) -> None:
    stdout = _run(str(THROUGHPUT), "--quick", "--threads", "1")
    (row,) = json.loads(stdout.strip().splitlines()[-1])["rounds"]
    # one epoch of the same data
    assert (row["hpo_examples"] == row["hpo_whole_examples"] == row["hpo_grouped_examples"]
            == row["plain_examples"] == 48)
    for engine in ("hpo", "hpo_whole", "hpo_grouped"):
        assert row[f"{engine}_ratio"] == pytest.approx(row[f"{engine}_per_s"]
                                                       / row["plain_per_s"])
    assert "hpo-grouped" in stdout and "/plain" in stdout


@pytest.mark.bench
@pytest.mark.slow
def test_throughput_pair(tmp_path: Path) -> None:
    stdout = _run(str(THROUGHPUT), "--quick", "--pair")
    (row,) = json.loads(stdout.strip().splitlines()[-1])["rounds"]
    assert len(row["pair_each_per_s"]) == 2
    assert row["pair_per_s"] == pytest.approx(sum(row["pair_each_per_s"]))
    assert row["ratio"] == pytest.approx(row["pair_per_s"] / row["single_per_s"])
