"""RELIABILITY 15: ``import hpo`` and ``hpo --help`` work without the heavy packages
imported; a missing extra ends a command with one line naming the extra.

Measured in fresh interpreters (what a user's shell pays); the times are printed, not
asserted against a bound, since this machine is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.reliability._stores import space_file

HEAVY = ("torch", "ray", "transformers", "datasets", "peft", "plotly", "optuna", "sqlalchemy")

PROBE = """\
import json, sys, time, io, contextlib
t0 = time.perf_counter()
{body}
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "heavy": sorted(m for m in {heavy!r}
                                                 if m in sys.modules)}}))
"""


def _probe(body: str) -> dict[str, object]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_import_hpo_loads_no_heavy_package() -> None:
    found = _probe("import hpo")
    print(f"import hpo: {found['seconds']:.3f} s")
    assert found["heavy"] == []


def test_help_loads_no_heavy_package() -> None:
    body = """\
from hpo.cli import main
with contextlib.redirect_stdout(io.StringIO()) as text:
    try:
        main(["--help"])
    except SystemExit:
        pass
assert "run" in text.getvalue() and "validate" in text.getvalue()
"""
    found = _probe(body)
    print(f"hpo --help (in-process): {found['seconds']:.3f} s")
    assert found["heavy"] == []


def test_help_command_runs() -> None:
    import time

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "hpo", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    print(f"python -m hpo --help: {time.perf_counter() - t0:.3f} s (interpreter included)")
    assert out.returncode == 0 and "run" in out.stdout


BLOCKED = """\
import sys
sys.modules[{module!r}] = None  # as if the extra that brings it was not installed
from hpo.cli import main
sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize("module, extra", [("ray", "tune"), ("plotly", "dashboard")])
def test_missing_extra_is_one_line_naming_it(tmp_path: Path, module: str, extra: str) -> None:
    db = tmp_path / "store" / "x.db"
    if module == "ray":
        argv = ["run", str(space_file(tmp_path)), "--storage", f"sqlite:///{db}", "--quiet"]
    else:
        argv = ["report", "nothing", "--storage", f"sqlite:///{db}",
                "--out", str(tmp_path / "r.html")]
    out = subprocess.run([sys.executable, "-c", BLOCKED.format(module=module, argv=argv)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 6, out.stderr
    assert len(lines) == 1, out.stderr
    assert f"pip install 'hpo[{extra}]'" in lines[0] and repr(module) in lines[0]
    assert not db.exists()
