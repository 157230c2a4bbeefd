"""hpo run refuses out-of-range numbers in one line naming the flag, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.cli import main


@pytest.mark.parametrize("flag, value, words", [
    ("--trials", "0", "--trials must be a whole number >= 1, got 0"),
    ("--trials", "-3", "--trials must be a whole number >= 1, got -3"),
    ("--concurrency", "0", "--concurrency must be a whole number >= 1, got 0"),
    ("--time-budget", "0", "--time-budget must be a number of seconds > 0, got 0"),
    ("--time-budget", "-5", "--time-budget must be a number of seconds > 0, got -5"),
    ("--time-budget", "nan", "--time-budget must be a number of seconds > 0, got nan"),
    ("--stale-after", "0", "--stale-after must be a number of seconds > 0, got 0"),
])
def test_out_of_range_number_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        flag: str, value: str, words: str) -> None:
    db = tmp_path / "s" / "x.db"
    rc = main(["run", str(tmp_path / "any.yaml"), "--storage", f"sqlite:///{db}",
               f"{flag}={value}"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().splitlines() == [f"hpo run: {words}"]
    assert not db.parent.exists()
