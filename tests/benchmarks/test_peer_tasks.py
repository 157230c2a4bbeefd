"""Tasks, the fortunes data set and the hpo space of benchmarks/finetune_vs_peers.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks._peers import fortunes
from benchmarks._peers.hpo_method import build_space
from benchmarks._peers.tasks import ROOT, get_task


def test_unknown_task_is_named() -> None:
    with pytest.raises(ValueError, match=r"'nope'.*rt, fmnist, fortunes"):
        get_task("nope")


def test_quick_image_task_reads_a_small_packaged_set() -> None:
    task = get_task("fmnist", quick=True)
    assert task.data["source"] == "mnist_5k" and task.epochs == 1
    assert get_task("fmnist").data["source"] == "fashion_mnist"


def test_hpo_space_keeps_the_shipped_search_and_takes_the_tasks_data() -> None:
    import yaml

    task = get_task("rt")
    spec = build_space(task, 600.0, 3, quick=False)
    shipped = yaml.safe_load((ROOT / task.space).read_text())
    assert spec.data == task.data
    assert spec.budget.time_s == 600.0 and spec.budget.trials > 1000
    assert spec.sampler.name == shipped["sampler"]["name"]
    assert spec.sampler.options["seed"] == 3
    assert spec.scheduler.name == shipped["scheduler"]["name"]
    assert spec.concurrency == shipped.get("concurrency")  # None: chosen from the machine
    searched = {p.name for p in spec.params if type(p).__name__ != "FixedParam"}
    assert searched == {k for k, v in shipped["params"].items() if isinstance(v, dict)}


def test_fortunes_become_one_class_per_file_without_shared_texts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "fortunes"
    src.mkdir()
    (src / "law").write_text("a\n%\nb\n%\nshared\n%\nc\n")
    (src / "love").write_text("d\n%\nshared\n%\ne\n%\nf\n")
    (src / "tiny").write_text("g\n")
    (src / "law.dat").write_bytes(b"\x00index")
    monkeypatch.setattr(fortunes, "FORTUNE_DIR", src)
    monkeypatch.setattr(fortunes, "MIN_PER_CLASS", 2)
    out = fortunes.fortunes_jsonl(tmp_path / "cache")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["label"], r["text"]) for r in rows) == [
        ("law", "a"), ("law", "b"), ("law", "c"), ("love", "d"), ("love", "e"), ("love", "f")]


def test_missing_fortunes_package_says_how_to_install(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fortunes, "FORTUNE_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="apt-get install fortunes"):
        fortunes.fortunes_jsonl(tmp_path / "cache")


def test_a_variant_space_file_replaces_the_shipped_one(tmp_path: Path) -> None:
    import dataclasses

    import yaml

    task = get_task("rt")
    doc = yaml.safe_load((ROOT / task.space).read_text())
    doc["params"]["epochs"] = 7
    variant = tmp_path / "seven.yaml"
    variant.write_text(yaml.safe_dump(doc))
    spec = build_space(dataclasses.replace(task, space=str(variant)), 600.0, 0, quick=False)
    (epochs,) = [p for p in spec.params if p.name == "epochs"]
    assert getattr(epochs, "value", None) == 7
    assert spec.data == task.data  # the comparison's data still replaces the file's


def test_a_space_file_needs_a_variant_label(tmp_path: Path) -> None:
    from benchmarks.finetune_vs_peers import main

    other = tmp_path / "other.yaml"
    other.write_text("name: x\n")
    with pytest.raises(SystemExit, match="--variant"):
        main(["--space", str(other), "--task", "rt", "--method", "hpo"])
    with pytest.raises(SystemExit, match="not a file"):
        main(["--space", str(tmp_path / "absent.yaml"), "--variant", "v"])
