"""User-style trainables imported by ``module:function`` in tests."""

from __future__ import annotations

from typing import Any

import hpo


def quadratic(config: dict[str, Any]) -> None:
    """Reports ``-(x - 2)^2`` three times, improving each time."""
    for step in range(1, 4):
        hpo.report({"neg_loss": -((config["x"] - 2.0) ** 2) / step, "step_seen": step})


def cpus_seen(config: dict[str, Any]) -> None:
    """Reports ``x`` and the CPUs its trial context says the trial has."""
    hpo.report({"score": config["x"], "cpus": hpo.trial_context().cpus})


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


def numpy_scores(config: dict[str, Any]) -> None:
    """Reports NumPy scalars (float32 score, int64 step count); odd trials then report
    once without the objective."""
    import numpy as np

    for step in range(1, 3):
        hpo.report({"score": np.float32(config["x"] * step), "seen": np.int64(step)})
    if hpo.trial_context().number % 2:
        hpo.report({"loss": 0.5})


def random_sampler(seed: int | None = None) -> Any:
    """A user's sampler factory (``sampler: tests._trainables:random_sampler``)."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _stop_high_x_class() -> Any:
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    class StopHighX(FIFOScheduler):
        """A user's scheduler: stops every trial with x > 0.5 at step 2."""

        def __init__(self, metric: str | None = None, mode: str | None = None,
                     threshold: float = 0.5) -> None:
            super().__init__()
            self.threshold = threshold

        def on_trial_result(self, controller: Any, trial: Any, result: dict) -> str:
            if result.get("training_iteration") == 2 and trial.config["x"] > self.threshold:
                return TrialScheduler.STOP
            return TrialScheduler.CONTINUE

    return StopHighX


def __getattr__(name: str) -> Any:
    # Built on first use, so importing this module does not import Ray.
    if name == "StopHighX":
        return _stop_high_x_class()
    raise AttributeError(name)
