"""Parameter definitions of a search space and how each is sampled with Optuna."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import optuna

Scalar = Union[bool, int, float, str, None]


@dataclass(frozen=True)
class Condition:
    """A parameter exists only when ``parent`` took one of ``values``."""

    parent: str
    values: tuple[Scalar, ...]

    def holds(self, config: dict[str, Any]) -> bool:
        return self.parent in config and config[self.parent] in self.values


@dataclass(frozen=True)
class FloatParam:
    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: tuple[Condition, ...] = ()

    def suggest(self, trial: optuna.Trial) -> float:
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class IntParam:
    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    when: tuple[Condition, ...] = ()

    def suggest(self, trial: optuna.Trial) -> int:
        return trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class CategoricalParam:
    name: str
    choices: tuple[Scalar, ...]
    when: tuple[Condition, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Scalar:
        return trial.suggest_categorical(self.name, list(self.choices))


@dataclass(frozen=True)
class FixedParam:
    """A value every trial gets; recorded in the config, never sampled."""

    name: str
    value: Any
    when: tuple[Condition, ...] = field(default=())

    def suggest(self, trial: optuna.Trial) -> Any:
        return self.value


Param = Union[FloatParam, IntParam, CategoricalParam, FixedParam]


def is_finite_number(value: object) -> bool:
    """True for ints and finite floats (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)
