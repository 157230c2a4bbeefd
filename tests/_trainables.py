"""User-style trainables imported by ``module:function`` in tests."""

from __future__ import annotations

from typing import Any

import hpo


def quadratic(config: dict[str, Any]) -> None:
    """Reports ``-(x - 2)^2`` three times, improving each time."""
    for step in range(1, 4):
        hpo.report({"neg_loss": -((config["x"] - 2.0) ** 2) / step, "step_seen": step})


def flaky(config: dict[str, Any]) -> None:
    """Fails for odd trial numbers, otherwise reports once."""
    if hpo.trial_context().number % 2:
        raise ValueError(f"flaky trainable refused trial {hpo.trial_context().number}")
    hpo.report({"neg_loss": -config["x"]})


def slow_steps(config: dict[str, Any]) -> None:
    """Reports ``x`` three times, working ``pause`` seconds between reports without ever
    asking ``hpo.should_stop()``: a trainable whose steps cannot be interrupted."""
    import time

    for step in range(1, 4):
        hpo.report({"score": config["x"] * step})
        time.sleep(config["pause"])
