"""Search-space files: YAML in, a validated spec and an Optuna define-by-run function out."""

from __future__ import annotations

from hpo.spaces._compile import config_from_params, define_by_run
from hpo.spaces._errors import Problem, SpaceError
from hpo.spaces._loader import load_space, parse_space
from hpo.spaces._spec import Budget, Component, Divergence, Objective, Resources, SearchSpec

__all__ = [
    "Budget", "Component", "Divergence", "Objective", "Problem", "Resources", "SearchSpec",
    "SpaceError",
    "config_from_params", "define_by_run", "load_space", "parse_space",
]
