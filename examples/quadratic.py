"""A custom trainable: the smallest thing hpo can search."""

from __future__ import annotations

from typing import Any

import hpo


def quadratic(config: dict[str, Any]) -> None:
    """Reports a loss that shrinks over 5 steps and is lowest at x = 2."""
    for step in range(1, 6):
        if hpo.should_stop():
            return
        loss = (config["x"] - 2.0) ** 2 + 1.0 / step
        hpo.report({"loss": loss})
