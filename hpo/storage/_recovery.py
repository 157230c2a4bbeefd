"""The recovery file: finished results the store could not take, replayed by the next run.

When the store stays down past the retry window (see :mod:`hpo.storage._retry`), the
search stops; every trial result it had finished but could not store (its end state,
value and attributes) is appended to a recovery file instead of being lost. The next
:func:`hpo.storage.open_study` of the same study on the same store replays the file
into the study before anything else runs, then removes what it stored.

Where it lives: ``$HPO_RECOVERY_DIR`` if set, else beside a SQLite database
(``hpo.db.recovery/``), else ``./hpo-results/recovery/``; one file per store and
study, named after the study and a hash of the store URL (without its password).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.storage._files import read_records, write_records
from hpo.storage._url import DEFAULT_DIR

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

ENV_DIR = "HPO_RECOVERY_DIR"
_LOCK = threading.Lock()


def recovery_path(storage_url: str, study_name: str) -> Path:
    """The recovery file of ``study_name`` on ``storage_url``."""
    safe_url = re.sub(r"://([^:/@]+):[^@]*@", r"://\1@", storage_url)
    digest = hashlib.sha256(f"{safe_url}\n{study_name}".encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", study_name)[:80] or "study"
    if os.environ.get(ENV_DIR):
        folder = Path(os.environ[ENV_DIR])
    elif storage_url.startswith("sqlite:///") and storage_url[10:] not in ("", ":memory:"):
        folder = Path(storage_url[10:] + ".recovery")
    else:
        folder = Path(DEFAULT_DIR) / "recovery"
    return folder.resolve() / f"{stem}-{digest}.jsonl"


def end_record(study_name: str, number: int, state: str, value: float | None,
               user_attrs: dict[str, Any]) -> dict[str, Any]:
    """A trial's end as the recovery file keeps it."""
    return {"study": study_name, "number": number, "state": state, "value": value,
            "user_attrs": user_attrs}


def save(path: Path, records: list[dict[str, Any]]) -> None:
    """Add ``records`` to the recovery file ``path`` (whole file rewritten atomically).

    If even that fails (the disk is full, the folder is gone), every record is logged
    at ERROR level in full, so the result is still on the driver's stderr.
    """
    if not records:
        return
    with _LOCK:
        try:
            found = read_records(path)
            write_records(path, found.records + records)
        except OSError as exc:
            for record in records:
                log.error("could not write the recovery file %s (%s); result not stored: "
                          "%r", path, exc, record)
            raise
    log.error("the store is unreachable: %d finished result(s) written to %s; the next run "
              "on this study replays them", len(records), path)


def replay(study: optuna.Study, storage: optuna.storages.BaseStorage,
           storage_url: str) -> list[int]:
    """Store the recovery file's results of ``study``; the trial numbers stored.

    A damaged line is named in the log and dropped from the file; a record whose trial
    is already finished in the store (stored after all, or failed as orphaned by another
    driver) is logged with its value and dropped, since Optuna cannot change a finished
    trial.
    """
    from optuna.trial import TrialState

    path = recovery_path(storage_url, study.study_name)
    with _LOCK:
        found = read_records(path)
        if not found.records and not found.damaged:
            return []
        for line in found.damaged:
            log.error("%s: line %d is damaged (torn or edited); it is left out", path, line)
        study_id = storage.get_study_id_from_name(study.study_name)
        stored: list[int] = []
        keep: list[dict[str, Any]] = []
        for record in found.records:
            if record.get("study") != study.study_name:
                keep.append(record)
                continue
            number = int(record["number"])
            try:
                trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
                trial = storage.get_trial(trial_id)
            except KeyError:
                log.error("%s: trial %d is not in study %r; its result %r is dropped",
                          path, number, study.study_name, record)
                continue
            if trial.state != TrialState.RUNNING:
                log.warning("%s: trial %d is already %s in the store; the recovered result "
                            "(%s, value %r) is not applied", path, number, trial.state.name,
                            record["state"], record.get("value"))
                continue
            for key, value in (record.get("user_attrs") or {}).items():
                storage.set_trial_user_attr(trial_id, key, value)
            state = TrialState[record["state"]]
            values = [float(record["value"])] if state == TrialState.COMPLETE else None
            storage.set_trial_state_values(trial_id, state, values)
            stored.append(number)
        write_records(path, keep)
    if stored:
        log.warning("replayed %d result(s) of study %r from %s", len(stored),
                    study.study_name, path)
    return stored
