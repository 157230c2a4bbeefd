"""Trainables that break in the ways RELIABILITY.md lists, imported by ``module:function``.

Each leaves marker files in ``config["marker_dir"]`` (written to a temporary name and
renamed, so a reader never sees half a file) saying what ran where, so a test can act
on a running trial (kill its worker) and check what each attempt did.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import hpo


def _mark(config: dict[str, Any], name: str, payload: dict[str, Any]) -> None:
    folder = Path(config["marker_dir"])
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, folder / name)


def killable(config: dict[str, Any]) -> None:
    """Trial 0's first attempt waits at step 2 for the test to kill its worker; every
    attempt checkpoints each step and resumes from its last checkpoint."""
    ctx = hpo.trial_context()
    state = hpo.checkpoint_state() or {"step": 0}
    _mark(config, f"t{ctx.number}-a{ctx.attempt}.json",
          {"pid": os.getpid(), "x": config["x"], "resumed_at": state["step"]})
    for step in range(int(state["step"]) + 1, 5):
        if ctx.number == 0 and ctx.attempt == 0 and step == 3:
            _mark(config, "victim-ready.json", {"pid": os.getpid()})
            deadline = time.time() + 60
            while time.time() < deadline:  # killed here by the test
                time.sleep(0.05)
            raise RuntimeError("the test never killed this worker")
        hpo.report({"score": config["x"] * step}, checkpoint={"step": step})


def resumable(config: dict[str, Any]) -> None:
    """Five steps with a checkpoint at each; trial 0's first attempt crashes at step 3
    after checkpointing steps 1 and 2. Each attempt notes the steps it ran."""
    ctx = hpo.trial_context()
    state = hpo.checkpoint_state() or {"step": 0, "weights": 0.0}
    ran = []
    for step in range(int(state["step"]) + 1, 6):
        if ctx.number == 0 and ctx.attempt == 0 and step == 3:
            _mark(config, f"t{ctx.number}-a{ctx.attempt}.json", {"steps": ran})
            raise RuntimeError("crash after the checkpoint of step 2")
        weights = state["weights"] + config["x"]
        state = {"step": step, "weights": weights}
        ran.append(step)
        hpo.report({"score": weights}, checkpoint=state)
    _mark(config, f"t{ctx.number}-a{ctx.attempt}.json", {"steps": ran,
          "start_step": ctx.start_step})


def always_raises(config: dict[str, Any]) -> None:
    """Trial 1 raises on every attempt after one report; the others report 3 steps."""
    ctx = hpo.trial_context()
    _mark(config, f"t{ctx.number}-a{ctx.attempt}.json", {"x": config["x"]})
    for step in range(1, 4):
        hpo.report({"score": config["x"] * step})
        if ctx.number == 1:
            raise ValueError(f"doomed trial, attempt {ctx.attempt}")


BAD_KINDS = ("ok", "nan", "inf", "none", "text")


def bad_objective(config: dict[str, Any]) -> None:
    """Reports at step 2, by trial number, a finite score, NaN, inf, None or text."""
    values: dict[str, Any] = {"ok": config["x"], "nan": float("nan"), "inf": float("inf"),
                              "none": None, "text": "0.9"}
    kind = BAD_KINDS[hpo.trial_context().number % len(BAD_KINDS)]
    for step in range(1, 4):
        score = values[kind] if step == 2 else config["x"] * 0.5
        hpo.report({"score": score})


DIVERGING_KINDS = ("explodes", "stable", "explodes", "nan")  # most trials diverge


def diverging(config: dict[str, Any]) -> None:
    """Most configs diverge: their loss grows 100x a step (to 1e24 and beyond) or turns
    NaN, while their score is the best of all (at first, for the NaN ones). Stable ones
    improve slowly. The kind goes by trial number (:data:`DIVERGING_KINDS`)."""
    kind = DIVERGING_KINDS[hpo.trial_context().number % len(DIVERGING_KINDS)]
    for step in range(1, config["steps"] + 1):
        if kind == "stable":
            loss, score = 1.0 / step, 0.5 + 0.03 * step * config["x"]
        elif kind == "explodes":
            # Its score ties with the other exploding trials at every rung (as when all
            # sit at the majority-class accuracy), so ASHA keeps them all.
            loss, score = 100.0 ** (step - 1), 0.9
        else:  # "nan": fine at first, then NaN
            loss = 1.0 if step < 3 else float("nan")
            score = 0.95 if step < 3 else 0.1
        hpo.report({"score": score, "loss": loss})


def memory_hungry(config: dict[str, Any]) -> None:
    """Batches of 128 and more do not fit: MemoryError (x < 0.5) or torch's
    OutOfMemoryError (x >= 0.5) at the first step, as a real fine-tuning run would."""
    if config["batch_size"] >= 128:
        if config["x"] >= 0.5:
            import torch

            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory trying a batch of {config['batch_size']}")
        raise MemoryError(f"cannot allocate a batch of {config['batch_size']}")
    for step in range(1, 3):
        hpo.report({"score": config["x"] * step / config["batch_size"] ** 0.1})


def hangs(config: dict[str, Any]) -> None:
    """Trial 0 hangs in a step that never polls ``should_stop()``; others report 2 steps."""
    ctx = hpo.trial_context()
    for step in range(1, 3):
        hpo.report({"score": config["x"] * step})
        if ctx.number == 0:
            time.sleep(1000)
