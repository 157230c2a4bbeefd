"""Comparison dashboards and static reports over the Optuna store hpo writes.

``hpo dashboard`` serves studies list, study pages and comparisons with live
updates; ``hpo report`` writes one self-contained HTML file. Heavy dependencies
(optuna, plotly, SQLAlchemy) load only when a command runs, so importing this
package stays cheap; the core CLI calls :func:`register`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` and ``report`` subcommands to hpo's CLI."""
    from hpo.dashboard._cli import register as _register

    _register(subparsers)
