"""Each ``hpo run`` on a study: a numbered record and a sampler seed of its own.

A sampler seeded alike in two runs proposes the same opening configs, so a
resumed run (or a second driver) would repeat the first one's trials. The study
keeps a base seed (``hpo:seed``: ``--seed``, the space's sampler seed, or drawn
once at random) and a list of its runs (``hpo:runs``); run ``k`` samples with a
seed derived from the base seed and ``k``. Runs are numbered under the study
lock, so two drivers starting together still get different numbers.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.storage import attrs

if TYPE_CHECKING:
    import optuna

    from hpo.execution._study_lock import StudyLock


@dataclass(frozen=True)
class RunInfo:
    """This run's number on the study, its sampler seed and its driver's name."""

    index: int
    seed: int
    base_seed: int
    driver: str


def driver_name() -> str:
    """``host:pid:token``: unique per driver process, readable in a trial's attributes."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def derive_seed(base_seed: int, index: int) -> int:
    digest = hashlib.sha256(f"hpo-run:{base_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def register_run(study: optuna.Study, lock: StudyLock, seed: int | None,
                 placement: dict[str, Any] | None = None) -> RunInfo:
    """Number this run, choose its seed and append its record to the study.

    Args:
        seed: the base seed asked for (``--seed`` or the space's); None keeps the
            study's, or draws one for a new study.
        placement: trials at once and CPUs per trial this run uses, and why
            (:meth:`~hpo.execution._placement.Placement.record`), kept on the record.
    """
    with lock.held():
        ua: dict[str, Any] = study.user_attrs
        stored = ua.get(attrs.SEED)
        if seed is not None:
            base = int(seed)
        elif isinstance(stored, int):
            base = stored
        else:
            base = secrets.randbits(32)
        if stored is None:
            study.set_user_attr(attrs.SEED, base)
        runs = list(ua.get(attrs.RUNS) or [])
        index = len(runs)
        info = RunInfo(index=index, seed=derive_seed(base, index), base_seed=base,
                       driver=driver_name())
        runs.append({"run": index, "seed": info.seed, "base_seed": base,
                     "driver": info.driver, "started": time.time(),
                     **({} if placement is None else {"placement": placement})})
        study.set_user_attr(attrs.RUNS, runs)
    return info


def trial_seed(study_name: str, number: int) -> int:
    """The seed a trial's context carries (the trainable uses it unless ``seed`` is set)."""
    digest = hashlib.sha256(f"{study_name}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def end_run(study: optuna.Study, lock: StudyLock, run: RunInfo, end: str, note: str) -> None:
    """Record how run ``run`` ended on its record in ``hpo:runs`` (``end``, ``note``,
    ``ended``), so readers can say why a study stopped: ``completed`` (the trial budget was
    used), ``time_budget``, ``interrupted`` or ``error``. A run without an end died first."""
    with lock.held():
        runs = list(study.user_attrs.get(attrs.RUNS) or [])
        for i, rec in enumerate(runs):
            if isinstance(rec, dict) and rec.get("run") == run.index \
                    and rec.get("driver") == run.driver:
                runs[i] = {**rec, "end": end, "note": note, "ended": time.time()}
                study.set_user_attr(attrs.RUNS, runs)
                return
