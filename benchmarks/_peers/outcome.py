"""What a method's search hands to the retrains and to the results file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """One search (or the recipe, which does not search).

    Attributes:
        trials: trials the search started (1 for the recipe).
        search_seconds: wall time of the search, its tool's start-up and shut-down
            included (0 for the recipe).
        best_validation: the validation score the method ranked its pick by.
        config: the pick's config, as the method's own retrain takes it.
        notes: method-specific facts (hpo's best step, Ray's errored trials, ...).
    """

    trials: int
    search_seconds: float
    best_validation: float | None
    config: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)
