"""A tiny trainable with a known optimum, for tests, demos of the engine and benchmarks.

Its score rises over steps towards ``1 - (x - 0.3)^2 - (y - 0.6)^2`` (best at
x=0.3, y=0.6). Config keys beyond the searched ones simulate what real
fine-tuning does wrong: ``fail_at`` raises at that step, ``bad_value_at`` with
``bad_value`` reports NaN/inf/None/text there, ``sleep`` waits per step.
"""

from __future__ import annotations

import time
from typing import Any

from hpo.trainables._context import report, should_stop


def train_synthetic(config: dict[str, Any]) -> None:
    steps = int(config.get("steps", 3))
    sleep = float(config.get("sleep", 0.0))
    x = float(config.get("x", 0.5))
    y = float(config.get("y", 0.5))
    target = 1.0 - (x - 0.3) ** 2 - (y - 0.6) ** 2
    for step in range(1, steps + 1):
        if should_stop():
            return
        if sleep:
            time.sleep(sleep)
        if config.get("fail_at") == step:
            raise RuntimeError(f"synthetic failure at step {step}")
        score: Any = target * (0.5 + 0.5 * step / steps)
        if config.get("bad_value_at") == step:
            score = config.get("bad_value")
        report({"score": score, "loss": 1.0 - target * step / steps})
