"""Ray instances hpo started, recorded so a dead driver's leftovers can be cleaned up.

A Ray instance started by ``ray.init`` belongs to the driver process that started it.
When that driver is killed with SIGKILL it cannot shut Ray down: some of Ray's
processes (its dashboard and runtime-env agents, re-parented to init) survive even
SIGTERM, and the instance's session folder and hpo's own temp folder stay behind.

So when hpo starts its local instance it writes a small JSON record (atomically: a
temp file renamed into place) in :func:`state_dir`: the driver's pid and start time
(from ``/proc/PID/stat``, so a reused pid is not mistaken for the driver), Ray's
session folder and hpo's temp folders. :func:`clean_dead_instances` (run cheaply at
the start of every ``hpo run`` and by ``hpo doctor``) looks at the records whose
driver is gone, finds that session's processes by scanning ``/proc`` for a command
line or an open file inside the session folder (every Ray process of a session has
its log files there), stops them (SIGTERM, then SIGKILL after a grace period) and
removes the folders. Processes of any other Ray instance never reference that
session's folder and are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Overrides where the records live (tests use their own folder).
STATE_DIR_VAR = "HPO_STATE_DIR"
# Folders a record may name for removal must look like what Ray and hpo create.
_SESSION_PREFIX = "session_"
_TEMP_PREFIX = "hpo-ray-"

_current: Path | None = None


def supported() -> bool:
    """Records and clean-up need Linux's ``/proc`` (pids, start times, open files)."""
    return Path("/proc/self/stat").is_file()


def state_dir() -> Path:
    """Where the records live: ``$HPO_STATE_DIR``, else ``~/.cache/hpo`` (or XDG's)."""
    base = os.environ.get(STATE_DIR_VAR)
    if base:
        root = Path(base)
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(cache) / "hpo"
    return root / "ray-instances"


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses.
    fields = text[text.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2:].split()
    return rest[0] if rest else None


def _alive(pid: int) -> bool:
    state = _state(pid)
    return state is not None and state not in ("Z", "X")


def register_instance(*, temp_dirs: list[str] | tuple[str, ...] = (),
                      session_dir: str | None = None, gcs_address: str | None = None,
                      path: Path | None = None) -> Path | None:
    """Record (or update, given ``path``) the local Ray instance this process started.

    Returns the record's path, or None when the state folder cannot be written (the
    search runs anyway; only the clean-up after a SIGKILL is lost).
    """
    global _current
    if not supported():
        return None
    pid = os.getpid()
    record = {
        "driver_pid": pid,
        "driver_start": process_start_time(pid),
        "session_dir": session_dir,
        "temp_dirs": [str(Path(d).resolve()) for d in temp_dirs],
        "gcs_address": gcs_address,
        "created": time.time(),
    }
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = path or folder / f"driver-{pid}-{record['driver_start']}-{time.time_ns()}.json"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        os.replace(tmp, target)
    except OSError:
        return None
    _current = target
    return target


def forget_instance() -> None:
    """Drop this process's record (after a clean ``ray.shutdown()``)."""
    global _current
    if _current is not None:
        with contextlib.suppress(OSError):
            _current.unlink()
    _current = None


@dataclass
class Instance:
    """One record and what was found for it."""

    path: Path
    driver_pid: int
    driver_start: int | None
    session_dir: str | None
    temp_dirs: list[str]
    alive: bool
    gcs_address: str | None = None
    pids: list[int] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)

    @property
    def dirs(self) -> list[str]:
        return [d for d in [self.session_dir, *self.temp_dirs] if d and _removable(d)]


def _removable(path: str) -> bool:
    name = Path(path).name
    return Path(path).is_absolute() and name.startswith((_SESSION_PREFIX, _TEMP_PREFIX))


def _read(path: Path) -> Instance | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        pid = int(data["driver_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    start = data.get("driver_start")
    start = int(start) if isinstance(start, int) else None
    now = process_start_time(pid)
    alive = now is not None and _alive(pid) and (start is None or now == start)
    session = data.get("session_dir")
    temps = [str(d) for d in data.get("temp_dirs") or [] if isinstance(d, str)]
    gcs = data.get("gcs_address")
    return Instance(path, pid, start, session if isinstance(session, str) else None,
                    temps, alive, gcs if isinstance(gcs, str) else None)


def instances() -> list[Instance]:
    """Every record in the state folder, each with whether its driver still runs."""
    folder = state_dir()
    try:
        paths = sorted(folder.glob("driver-*.json"))
    except OSError:
        return []
    found = []
    for path in paths:
        inst = _read(path)
        if inst is None:
            # Unreadable (or half-written by an old version): only if it is old.
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > 3600:
                    path.unlink()
            continue
        found.append(inst)
    return found


def session_pids(session_dir: str) -> list[int]:
    """Live processes whose command line or open files point into ``session_dir``."""
    root = os.path.realpath(session_dir).rstrip("/")
    marks = [root + "/", root + "\0"]
    own = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == own:
            continue
        pid = int(entry)
        if not _alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(mark in cmdline for mark in marks) or cmdline.endswith(root):
            found.append(pid)
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(root + "/") or target == root:
                found.append(pid)
                break
    return sorted(found)


def _stop(pids: list[int], grace_s: float) -> list[int]:
    """SIGTERM, then SIGKILL what is still alive after ``grace_s``; returns the survivors."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        pids = [p for p in pids if _alive(p)]
        if not pids:
            break
    return pids


def _remove_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    # Ray points <temp dir>/session_latest at the newest session; only if it is this one.
    link = Path(path).parent / "session_latest"
    with contextlib.suppress(OSError):
        if link.is_symlink() and os.path.realpath(link) == os.path.realpath(path):
            link.unlink()


def clean_dead_instances(*, dry_run: bool = False, grace_s: float = 1.0) -> list[Instance]:
    """Clean up after every recorded instance whose driver is gone; returns those found.

    Each returned instance lists the pids found for its session (before they were
    stopped). With ``dry_run`` nothing is stopped or removed.
    """
    dead: list[Instance] = []
    if not supported():
        return dead
    for inst in instances():
        if inst.alive:
            continue
        if inst.session_dir:
            inst.pids = session_pids(inst.session_dir)
        dead.append(inst)
        if dry_run:
            continue
        inst.survivors = _stop(inst.pids, grace_s) if inst.pids else []
        for path in inst.dirs:
            _remove_dir(path)
        if not inst.survivors:
            with contextlib.suppress(OSError):
                inst.path.unlink()
    return dead
