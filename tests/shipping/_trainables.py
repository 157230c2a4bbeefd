"""Tiny synthetic trainables for the shipping tests (imported as ``module:function``)."""

from __future__ import annotations

import random
from typing import Any

import hpo


def noisy(config: dict[str, Any]) -> None:
    """Scores ``1 - (x - 0.3)^2`` plus seed noise of size ``noise`` (fixed per seed), over
    two reports. A config with a high ``x`` is noisier, so mean and lower bound can disagree.
    """
    seed = int(config.get("seed", hpo.trial_context().seed))
    x = float(config["x"])
    spread = float(config.get("noise", 0.05)) * (1.0 + 4.0 * x)
    jitter = random.Random(seed * 7919 + round(x * 1e6)).uniform(-spread, spread)
    for step in (1, 2):
        hpo.report({"score": (1.0 - (x - 0.3) ** 2) * step / 2 + jitter * step / 2})
