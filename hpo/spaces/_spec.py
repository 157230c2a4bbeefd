"""The validated, frozen form of a search-space file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hpo.execution._registry import SAMPLERS, SCHEDULERS  # noqa: F401 - re-exported
from hpo.spaces._params import Param

VALUE_MODES = ("best", "last")
DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Objective:
    """What a trial is scored by.

    Attributes:
        metric: name of the reported metric to optimise.
        direction: ``maximize`` or ``minimize``.
        value: ``best`` (the best reported score, default) or ``last``.
        tiebreak: a second reported metric that orders trials whose objective ties
            at a scheduler rung (e.g. ``eval_loss`` when many trials sit at the
            majority-class accuracy); never changes a stored value.
        tiebreak_direction: ``minimize`` (default) or ``maximize``.
    """

    metric: str
    direction: str = "maximize"
    value: str = "best"
    tiebreak: str | None = None
    tiebreak_direction: str = "minimize"

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "maximize" else -1.0

    @property
    def tiebreak_sign(self) -> float:
        """+1 when a larger tiebreak value wins a tie, -1 when a smaller one does."""
        return 1.0 if self.tiebreak_direction == "maximize" else -1.0


@dataclass(frozen=True)
class Component:
    """A sampler or scheduler chosen by name, with its keyword options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    """When the search stops.

    Attributes:
        trials: total trials in the study (finished ones count on resume).
        time_s: wall-clock limit of one ``hpo run`` in seconds.
        max_steps: most reports a trial makes; the scheduler's ``max_t``.
        trial_time: wall-clock limit of one trial attempt in seconds (None: none). A
            trial past it is stopped, even one that never polls ``should_stop()``.
    """

    trials: int = 20
    time_s: float | None = None
    max_steps: int = 3
    trial_time: float | None = None


@dataclass(frozen=True)
class Divergence:
    """When a trial counts as diverged and is stopped at once (stored PRUNED).

    Attributes:
        metric: a reported metric where lower is better (a loss).
        max_ratio: the trial is stopped when ``metric`` is not finite, or exceeds
            ``start + (max_ratio - 1) * |start|`` (``max_ratio`` times its start for a
            positive loss), ``start`` being the trial's own first reported value.
    """

    metric: str
    max_ratio: float = 10.0

    def bound(self, start: float) -> float:
        return start + (self.max_ratio - 1.0) * abs(start)


@dataclass(frozen=True)
class Resources:
    """What one trial asks Ray for.

    Attributes:
        cpu: CPUs (the trainable's threads); None: not given, chosen from the machine
            when the search starts (:mod:`hpo.execution._placement`).
        gpu: share of a GPU; may be fractional to pack trials on one GPU.
    """

    cpu: float | None = None
    gpu: float = 0.0


@dataclass(frozen=True)
class SearchSpec:
    """A whole search: what to train, on what, how to score it and what to vary."""

    source: str
    text: str
    trainable: str
    params: tuple[Param, ...]
    objective: Objective
    name: str | None = None
    description: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    sampler: Component = field(default_factory=lambda: Component("tpe"))
    scheduler: Component = field(default_factory=lambda: Component("asha"))
    budget: Budget = field(default_factory=Budget)
    #: trials at once; None: not given, chosen from the machine when the search starts.
    concurrency: int | None = None
    resources: Resources = field(default_factory=Resources)
    #: times a failed trial is run again with the same parameters (from its last
    #: checkpoint when it saved one); the Optuna trial stays one trial.
    max_retries: int = 0
    divergence: Divergence | None = None

    def identity(self) -> dict[str, Any]:
        """What makes two searches the same experiment (budgets and sampler excluded)."""
        return {
            "trainable": self.trainable,
            "params": [_param_identity(p) for p in self.params],
            "metric": self.objective.metric,
            "direction": self.objective.direction,
            "value": self.objective.value,
            "model": self.model,
            "data": self.data,
        }

    def fingerprint(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _param_identity(param: Param) -> dict[str, Any]:
    out = asdict(param)
    out["type"] = type(param).__name__
    return out
