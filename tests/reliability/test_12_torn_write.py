"""RELIABILITY 12: a crash during a state write leaves the old file or the new one,
never a mix (temp file + ``os.replace``), and a file damaged some other way is detected
and repaired on open.

The state file hpo itself keeps outside the database is the recovery file (results a
lost store could not take); its writer is killed with SIGKILL at random moments.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo.spaces import load_space
from hpo.storage import open_storage, open_study
from hpo.storage._files import read_records, write_records
from hpo.storage._recovery import end_record, recovery_path, replay, save
from tests.conftest import ROOT
from tests.reliability._stores import space_file

# Rewrites the file over and over, each version one record longer, each record big
# enough that a write takes many system calls.
REWRITE = """\
import sys
from hpo.storage._files import write_records
path = sys.argv[1]
records = []
for i in range(100000):
    records.append({"version": i, "pad": "x" * 20000})
    write_records(path, records[-40:])
    print(i, flush=True)
"""


def test_a_writer_killed_mid_write_never_leaves_a_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    rng = random.Random(14)
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", REWRITE, str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # it has written at least once
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        found = read_records(path)
        assert found.damaged == []
        versions = [r["version"] for r in found.records]
        # One whole version of the file: consecutive records, ending where that write ended.
        assert versions == list(range(versions[0], versions[0] + len(versions)))
        assert len(versions) == min(40, versions[-1] + 1)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "state.jsonl"]
    print(f"{kills} kills mid-write: every read found one whole version")
    # A killed writer may leave its temporary file, never a torn target.
    assert all(name.startswith(".state.jsonl.") for name in leftovers)


def test_torn_or_edited_lines_are_detected_and_the_file_repaired_on_open(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'torn.db'}"
    spec = load_space(space_file(tmp_path))
    study = open_study(spec, "torn", url)
    trials = [study.ask() for _ in range(3)]
    path = recovery_path(url, "torn")
    save(path, [end_record("torn", t.number, "COMPLETE", 0.1 * (t.number + 1), {"hpo:step": 2})
                for t in trials])
    lines = path.read_text().splitlines(keepends=True)
    edited = lines[1].replace("0.2", "0.9")  # the CRC no longer matches
    torn = lines[2][: len(lines[2]) // 2]  # a write cut off half way, no newline
    path.write_text(lines[0] + edited + torn)
    found = read_records(path)
    assert [r["number"] for r in found.records] == [trials[0].number]
    assert found.damaged == [2, 3]
    with caplog.at_level(logging.ERROR, logger="hpo.storage._recovery"):
        stored = open_study(spec, "torn", url)  # the open replays and repairs
    assert "line 2 is damaged" in caplog.text and "line 3 is damaged" in caplog.text
    by_number = {t.number: t for t in stored.get_trials()}
    assert by_number[trials[0].number].value == pytest.approx(0.1)
    assert by_number[trials[1].number].state.name == "RUNNING"  # never guessed from junk
    assert not path.exists()  # repaired: nothing good was left to keep
    assert replay(stored, open_storage(url), url) == []


def test_write_records_replaces_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_records(path, [{"a": 1}])
    write_records(path, [{"a": 2}, {"a": 3}])
    assert read_records(path).records == [{"a": 2}, {"a": 3}]
    write_records(path, [])
    assert not path.exists()
