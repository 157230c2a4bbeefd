"""Files hpo writes outside the database: written whole and renamed, checked on open.

A file written in place is torn when the process dies mid-write (``kill -9``, a lost
machine, a full disk): the next reader sees half a record. Every file hpo writes
goes to a temporary file in the same folder, is flushed to disk, and is renamed
over the old one with :func:`os.replace`, which is atomic on POSIX, so a reader
sees the old file or the new one, never a mix.

Record files (:func:`write_records`, :func:`read_records`) are JSON lines, each
carrying a CRC-32 of its own text, so a file damaged some other way (a copy cut
short, a disk error, an editor) is detected on open: the damaged lines are named
and left out, and :func:`read_records` says which, so the caller can repair the
file by writing back the good ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and :func:`os.replace`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the folder is synced.
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass
class Records:
    """What :func:`read_records` found: the good records and the damaged lines."""

    records: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[int] = field(default_factory=list)  # 1-based line numbers


def _line(record: dict[str, Any]) -> str:
    body = json.dumps(record, sort_keys=True, allow_nan=True)
    return json.dumps({"crc": zlib.crc32(body.encode()), "record": body}) + "\n"


def write_records(path: str | os.PathLike[str], records: list[dict[str, Any]]) -> None:
    """Replace ``path`` with ``records`` (removed when there are none)."""
    if not records:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    atomic_write_text(path, "".join(_line(r) for r in records))


def read_records(path: str | os.PathLike[str]) -> Records:
    """The records in ``path`` (none if it does not exist) and the lines that are damaged."""
    out = Records()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            outer = json.loads(line)
            body = outer["record"]
            if zlib.crc32(body.encode()) != outer["crc"]:
                raise ValueError("checksum mismatch")
            record = json.loads(body)
            if not isinstance(record, dict):
                raise ValueError("not a record")
        except (ValueError, KeyError, TypeError):
            out.damaged.append(number)
            continue
        out.records.append(record)
    return out

