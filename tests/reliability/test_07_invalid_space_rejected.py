"""RELIABILITY 7: an invalid search-space file is rejected before anything launches:
non-zero exit, a message naming the file, the parameter and the bad value, and nothing
written to storage (on SQLite the database file is not even created; on PostgreSQL
not one table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.cli import main
from tests.reliability._stores import fresh_database

HEAD = """\
trainable: synthetic
objective: {metric: score, direction: maximize}
budget: {trials: 4, max_steps: 2}
params:
  steps: 2
"""

# name -> (the params lines, the words the message must hold besides the file name)
CASES = {
    "low_above_high": ("  lr: {type: float, low: 2.5, high: 1.0}", ["lr", "2.5"]),
    "log_low_not_positive": ("  lr: {type: float, low: 0.0, high: 1.0, log: true}",
                             ["lr", "0"]),
    "step_not_positive": ("  lr: {type: float, low: 0.0, high: 1.0, step: -0.5}",
                          ["lr", "-0.5"]),
    "int_step_zero": ("  batch: {type: int, low: 8, high: 64, step: 0}", ["batch", "0"]),
    "empty_choices": ("  opt: {type: categorical, choices: []}", ["opt", "[]"]),
    "unknown_type": ("  lr: {type: floaty, low: 0.0, high: 1.0}", ["lr", "floaty"]),
    "condition_on_unknown": ("  rank: {type: int, low: 4, high: 8, when: {strategy: lora}}",
                             ["rank", "strategy"]),
    "yaml_syntax": ("  lr: {type: float, low: 0.0, high: [1.0}", ["line"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_space_is_refused_naming_file_parameter_and_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    lines, words = CASES[case]
    space = tmp_path / f"{case}.yaml"
    space.write_text(HEAD + lines + "\n")
    db = tmp_path / "store" / "never.db"
    rc = main(["run", str(space), "--storage", f"sqlite:///{db}", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert str(space) in err or space.name in err, err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    assert "Traceback" not in err
    assert not db.exists() and not db.parent.exists()  # nothing written, not even a file
    # validate says the same, without running anything either.
    assert main(["validate", str(space)]) == 2
    assert words[0] in capsys.readouterr().err


@pytest.mark.postgres
def test_invalid_space_writes_nothing_to_postgres(
        tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlalchemy

    space = tmp_path / "bad.yaml"
    space.write_text(HEAD + CASES["low_above_high"][0] + "\n")
    with fresh_database(postgres_url) as url:
        assert main(["run", str(space), "--storage", url, "--quiet"]) == 2
        engine = sqlalchemy.create_engine(url)
        try:
            assert sqlalchemy.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
    assert "lr" in capsys.readouterr().err
