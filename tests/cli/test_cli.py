"""The real ``hpo`` entry point, run in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def hpo(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpo", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


def test_help_and_import_stay_light() -> None:
    code = ("import sys, hpo, hpo.cli; hpo.cli.build_parser(); "
            "heavy = [m for m in ('ray', 'torch', 'transformers', 'datasets', 'optuna', "
            "'plotly') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True,
                         check=True)
    assert out.stdout.strip() == "[]"
    res = hpo("--help")
    assert res.returncode == 0 and "run" in res.stdout and "validate" in res.stdout


def test_validate_rejects_bad_space_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainable: synthetic\nobjective: {metric: score}\nparams:\n"
                   "  lr: {type: float, low: 0.5, high: 0.1}\n")
    res = hpo("validate", str(bad))
    assert res.returncode == 2
    assert str(bad) in res.stderr and "params.lr.low" in res.stderr
    assert "low=0.5, high=0.1" in res.stderr
    db = tmp_path / "store.db"
    res = hpo("run", str(bad), "--storage", f"sqlite:///{db}", cwd=tmp_path)
    assert res.returncode == 2 and "params.lr.low" in res.stderr
    assert not db.exists() and not (tmp_path / "hpo-results").exists()


def test_misspelt_setting_of_a_builtin_trainable_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    space = tmp_path / "typo.yaml"
    space.write_text("trainable: text_classification\nmodel: {name_or_path: minilm-l6}\n"
                     "data: {source: rotten_tomatoes}\nobjective: {metric: accuracy}\n"
                     "params:\n  learnig_rate: {type: float, low: 1.0e-5, high: 1.0e-3}\n"
                     "  epochs: 1\n")
    res = hpo("validate", str(space))
    assert res.returncode == 2
    assert f"{space}: params.learnig_rate" in res.stderr
    assert "did you mean 'learning_rate'" in res.stderr and "epochs" not in res.stderr.split(
        "its settings")[0]
    db = tmp_path / "store.db"
    res = hpo("run", str(space), "--storage", f"sqlite:///{db}", cwd=tmp_path)
    assert res.returncode == 2 and "params.learnig_rate" in res.stderr
    assert not db.exists() and not (tmp_path / "hpo-results").exists()


def test_validate_refuses_bad_sampler_and_scheduler_options(tmp_path: Path) -> None:
    space = tmp_path / "options.yaml"
    space.write_text("trainable: synthetic\nobjective: {metric: score}\n"
                     "sampler: {name: tpe, options: {startup: lhs}}\n"
                     "scheduler: {name: asha, options: {reduction_factr: 2}}\n"
                     "params:\n  lr: {type: float, low: 0.1, high: 0.5}\n")
    res = hpo("validate", str(space))
    assert res.returncode == 2
    assert f"{space}: sampler 'tpe'" in res.stderr and "'lhs' is not one of" in res.stderr
    assert f"{space}: scheduler 'asha'" in res.stderr and "reduction_factr" in res.stderr


def test_validate_accepts_shipped_spaces() -> None:
    spaces = sorted(str(p) for folder in ("search_spaces", "benchmarks/spaces")
                    for p in (ROOT / folder).glob("*.yaml"))
    assert len(spaces) >= 9
    res = hpo("validate", *spaces)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(": ok (") == len(spaces)


@pytest.fixture(scope="module")
def synthetic_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The dashboard tests' synthetic studies: ASHA stops, a failure, a running trial."""
    from tests.dashboard.conftest import build_store

    return build_store(tmp_path_factory.mktemp("cli") / "hpo.db")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``hpo ARGS`` in this process: (exit code, stdout, stderr)."""
    from hpo.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_studies_show_and_best_read_what_the_dashboard_reads(
    synthetic_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hpo import results

    store = results.Store(synthetic_url)
    code, out, _ = cli(capsys, "studies", "--storage", synthetic_url, "--format", "json")
    assert code == 0
    mine = {s.name: s for s in results.summaries(store)}
    for row in json.loads(out):
        s = mine[row["name"]]
        assert (row["state"], row["counts"], row["best"], row["metric"]) == (
            s.state, s.counts, s.best, s.metric)
        assert (row["complete"], row["pruned"], row["failed"], row["running"]) == (
            s.complete, s.pruned, s.failed, s.running)
    code, out, _ = cli(capsys, "studies", "--storage", synthetic_url)
    assert code == 0 and "8/14/1/1" in out and "maximize accuracy" in out

    snap = store.snapshot("bert-sst2")
    code, out, _ = cli(capsys, "show", "bert-sst2", "--storage", synthetic_url, "--format",
                       "json")
    rows = json.loads(out)
    assert code == 0 and [r["number"] for r in rows] == [
        r.number for r in results.leaderboard(snap)]
    notes = {r["number"]: r["note"] for r in rows}
    assert all(notes[t.number] == results.stop_note(t) for t in snap.trials)
    assert notes[5] == "failed: CUDA out of memory"
    assert notes[1].startswith("stopped by asha at step 2 (score ") and "cutoff" in notes[1]
    code, out, _ = cli(capsys, "show", "bert-sst2", "--storage", synthetic_url, "--top", "3")
    assert code == 0 and "why trials stopped" not in out and len(out.splitlines()) == 5
    code, out, _ = cli(capsys, "show", "bert-sst2", "--storage", synthetic_url)
    assert "trial 5: failed: CUDA out of memory" in out and "trial 1: stopped by asha" in out

    code, out, _ = cli(capsys, "best", "roberta-sst2", "--storage", synthetic_url, "--format",
                       "json")
    best = json.loads(out)
    assert code == 0 and best["value"] == results.summarize(
        store.snapshot("roberta-sst2")).best
    assert best["trial"] == results.best_trial(store.snapshot("roberta-sst2")).number
    assert set(best["config"]) == {"learning_rate", "dropout", "optimizer"}
    code, _, err = cli(capsys, "best", "multi-obj", "--storage", synthetic_url)
    assert code == 4 and "2 objectives" in err
    code, _, err = cli(capsys, "best", "empty", "--storage", synthetic_url)
    assert code == 4 and "no COMPLETE trial" in err
    code, _, err = cli(capsys, "show", "nope", "--storage", synthetic_url)
    assert code == 4 and "studies: bert-sst2, roberta-sst2, multi-obj, empty" in err
    store.close()


def test_reading_commands_create_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    assert cli(capsys, "studies")[:2] == (0, "no studies yet: hpo run SPACE_YAML\n")
    assert json.loads(cli(capsys, "studies", "--format", "json")[1]) == []
    code, _, err = cli(capsys, "show", "x")
    assert code == 4 and "studies: none" in err
    assert cli(capsys, "best", "x")[0] == 4
    assert not (tmp_path / "hpo-results").exists()
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("create table x (a int)").connection.close()
    code, _, err = cli(capsys, "studies", "--storage", f"sqlite:///{tmp_path / 'other.db'}")
    assert code == 2 and "not an Optuna storage" in err


def test_every_front_end_takes_storage_from_one_place() -> None:
    import argparse

    from hpo.cli import build_parser
    from hpo.storage._url import DEFAULT_TEXT

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {}
    for name in ("run", "studies", "show", "best", "dashboard", "report"):
        (storage,) = [a for a in sub.choices[name]._actions if "--storage" in a.option_strings]
        helps[name] = (storage.default, storage.help)
    assert set(helps.values()) == {(None, f"storage URL (default: {DEFAULT_TEXT})")}, helps


@pytest.mark.usefixtures("ray_cluster")
def test_run_show_best_studies_round_trip(
    synthetic_space: Callable[..., Path], tmp_path: Path
) -> None:
    space = synthetic_space(trials=6, name="cli-demo")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    res = hpo("run", str(space), "--storage", url, "--concurrency", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "6 trials run this time" in res.stdout

    res = hpo("studies", "--storage", url, "--format", "json")
    (row,) = json.loads(res.stdout)
    assert row["name"] == "cli-demo" and row["complete"] + row["pruned"] == 6
    assert row["running"] == 0

    res = hpo("show", "cli-demo", "--storage", url)
    assert res.returncode == 0 and "rank" in res.stdout
    rows = json.loads(hpo("show", "cli-demo", "--storage", url, "--format", "json").stdout)
    assert len(rows) == 6 and rows[0]["rank"] == 1
    for row in rows:
        if row["state"] == "PRUNED":
            assert "cutoff" in row["note"]
            assert f"trial {row['number']}: stopped by asha" in res.stdout

    best = json.loads(hpo("best", "cli-demo", "--storage", url, "--format", "json").stdout)
    assert best["value"] == rows[0]["value"] and best["config"]["steps"] == 4
    assert set(best["config"]) == {"x", "y", "steps", "sleep"}
    res = hpo("best", "cli-demo", "--storage", url)
    assert "config:" in res.stdout and "fingerprint:" in res.stdout

    changed = synthetic_space(trials=6, name="cli-demo", direction="minimize")
    res = hpo("run", str(changed), "--storage", url, "--quiet")
    assert res.returncode == 3 and "resume refused" in res.stderr

    assert hpo("show", "nope", "--storage", url).returncode == 4


@pytest.mark.usefixtures("ray_cluster")
def test_console_script_imports_custom_trainable_from_working_directory(tmp_path: Path) -> None:
    (tmp_path / "mytrain.py").write_text(
        "import hpo\n\ndef fit(config):\n    hpo.report({'loss': (config['x'] - 1) ** 2})\n"
    )
    (tmp_path / "space.yaml").write_text(
        "trainable: mytrain:fit\nobjective: {metric: loss, direction: minimize}\n"
        "scheduler: fifo\nbudget: {trials: 2, max_steps: 1}\n"
        "params:\n  x: {type: float, low: 0, high: 2}\n"
    )
    script = Path(sys.executable).parent / "hpo"
    res = subprocess.run([str(script), "run", "space.yaml", "--quiet"], cwd=tmp_path,
                         text=True, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "2 complete" in res.stdout
