"""A dict checkpoint written as a directory Ray Tune can keep.

The state is written to a temporary file and renamed into place, so a directory
holding ``hpo_state.json`` always holds a whole one, whatever kills the worker.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpo.trainables._context import STATE_FILE


@contextmanager
def state_directory(state: dict[str, Any]) -> Iterator[Path]:
    """A fresh directory holding ``state`` as JSON; removed when the block ends (Ray
    Tune has copied it into the search's storage by then).

    Raises:
        TypeError: ``state`` is not JSON-serialisable.
    """
    try:
        text = json.dumps(state)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"hpo.report: a dict checkpoint must be JSON-serialisable: {exc}") \
            from None
    folder = Path(tempfile.mkdtemp(prefix="hpo-ckpt-"))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / STATE_FILE)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
