"""``hpo finalize`` and ``hpo export`` through the CLI; bundles read back; bad bundles refused."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.cli import main
from hpo.shipping import keys
from hpo.shipping.bundle import BundleError, read_bundle
from hpo.shipping.train import train_bundle


def test_finalize_then_export_yaml_and_json(noisy_search: tuple[str, str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    name, url = noisy_search
    assert main(["finalize", name, "--storage", url, "--top-k", "3", "--seeds", "2",
                 "--pick", "lower", "--quiet"]) == 0
    shown = capsys.readouterr().out
    record = optuna.load_study(study_name=name, storage=url).user_attrs[keys.FINALIZE]
    for cand in record["candidates"]:  # every candidate, not only the winner
        assert f"[{cand['low']:.4f}, {cand['high']:.4f}]" in shown
        assert f"{cand['mean']:.4f}" in shown and f"{cand['std']:.4f}" in shown
    assert f"picked trial {record['picked']} by best lower bound" in shown
    assert f"optimism (search score minus selection score) {record['optimism']:+.4f}" in shown

    out_yaml, out_json = tmp_path / "b" / "best.yaml", tmp_path / "b" / "best.json"
    assert main(["export", name, "--storage", url, "--out", str(out_yaml)]) == 0
    assert main(["export", name, "--storage", url, "--out", str(out_json)]) == 0
    from_yaml = yaml.safe_load(out_yaml.read_text())
    from_json = json.loads(out_json.read_text())  # real JSON, not YAML
    for key in ("format", "trainable", "config", "model", "data", "seed", "objective"):
        assert from_yaml[key] == from_json[key]
    assert from_yaml["provenance"]["trial"] == record["picked"]
    assert from_yaml["config"]["noise"] == 0.05  # fixed values are part of the config
    search = optuna.load_study(study_name=name, storage=url)
    picked = search.trials[record["picked"]]
    assert from_yaml["config"]["x"] == picked.params["x"]
    assert from_yaml["scores"]["search"]["value"] == picked.value
    robust = from_yaml["scores"]["robust"]
    assert robust["picked"] and robust["pick_by"] == "lower" and robust["seeds"] == [0, 1]
    assert from_yaml["provenance"]["space"]["fingerprint"] == search.user_attrs[
        "hpo:fingerprint"]
    assert from_yaml["provenance"]["sampler_seed"]["study"] == search.user_attrs["hpo:seed"]
    assert sorted(p.name for p in out_yaml.parent.iterdir()) == ["best.json", "best.yaml"]
    exported = search.user_attrs[keys.EXPORT]
    assert exported["path"] == str(out_json.resolve()) and exported["source"] == "finalize"

    # A plain-function trainable cannot be saved as a model: said, not attempted.
    with pytest.raises(ValueError, match="is a plain function"):
        train_bundle(out_yaml, tmp_path / "model", progress=False)
    assert not (tmp_path / "model").exists()


def test_export_of_an_unfinalized_study_takes_the_best_trial(
        noisy_search: tuple[str, str], tmp_path: Path) -> None:
    name, url = noisy_search
    from hpo.shipping.bundle import export

    bundle = export(name, tmp_path / "plain.json", storage=url)
    best = optuna.load_study(study_name=name, storage=url).best_trial
    assert bundle["provenance"]["trial"] == best.number
    assert bundle["scores"]["robust"] is None
    with pytest.raises(ValueError, match="--trial 99: study 'ship-noisy' cannot export it"):
        export(name, tmp_path / "x.yaml", storage=url, trial=99)
    with pytest.raises(ValueError, match="--format: choose one of yaml, json, got 'toml'"):
        export(name, tmp_path / "x.toml", storage=url, fmt="toml")


def test_bad_bundles_are_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("format: hpo-bundle/0\n")
    with pytest.raises(BundleError, match=r"b.yaml: format: expected 'hpo-bundle/1'"):
        read_bundle(path)
    path.write_text("format: hpo-bundle/1\ntrainable: synthetic\n")
    with pytest.raises(BundleError, match=r"b.yaml: config: missing"):
        read_bundle(path)
    with pytest.raises(BundleError, match="no such bundle file"):
        read_bundle(tmp_path / "absent.yaml")


def test_identity_changes_name_each_changed_model_file_and_split() -> None:
    from hpo.shipping.train import identity_changes

    model = {"files": {"model.safetensors": "aaa", "config.json": "ccc"}}
    data = {"sizes": {"train": 48, "test": 64}, "fingerprints": {"train": "t1", "test": "x1"},
            "labels": ["neg", "pos"]}
    same = identity_changes(model, data, {"model": model, "data": data})
    assert same == []
    now = {"model": {"files": {"model.safetensors": "bbb", "config.json": "ccc"}},
           "data": {"sizes": {"train": 50, "test": 64},
                    "fingerprints": {"train": "t2", "test": "x1"}, "labels": ["neg", "pos"]}}
    assert identity_changes(model, data, now) == [
        "model file model.safetensors: digest 'aaa' -> 'bbb'",
        "data split train: size 48 -> 50",
        "data split train: fingerprint 't1' -> 't2'",
    ]
