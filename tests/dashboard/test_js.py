"""The browser script's pure logic (hpo/dashboard/static/logic.js) under Node's test runner.

The tests themselves are in ``tests/dashboard/js/*.test.mjs``; this runs them so that CI,
which runs pytest, runs them too. Node's built-in runner only: no npm packages.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).parent / "js"


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_logic_js_under_node() -> None:
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no *.test.mjs under {JS_TESTS}"
    # The files by name rather than the folder: Node 18/20 expand a folder argument,
    # Node 22 reads arguments as glob patterns; both take a list of files.
    proc = subprocess.run(["node", "--test", *files], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-6000:]
