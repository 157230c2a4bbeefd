"""Running searches: Ray Tune executes trials, Optuna samples them, a ledger records them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.execution._runner import SearchInterrupted, SearchResult, run_search

__all__ = ["SearchInterrupted", "SearchResult", "run_search"]


def __getattr__(name: str) -> Any:
    # Lazy: importing hpo.execution must not import Ray.
    if name in __all__:
        from hpo.execution import _runner

        return getattr(_runner, name)
    raise AttributeError(name)
