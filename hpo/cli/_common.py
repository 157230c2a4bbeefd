"""Pieces shared by CLI commands."""

from __future__ import annotations

import argparse
import math

from hpo.storage._url import DEFAULT_TEXT

EXIT_BAD_INPUT = 2
EXIT_MISMATCH = 3
EXIT_NOT_FOUND = 4
#: The store stayed unreachable past the retry window (results in the recovery file).
EXIT_STORE_UNAVAILABLE = 5
#: An optional package the command needs is not installed.
EXIT_MISSING_EXTRA = 6


def add_storage(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage URL`` (None when not given: :func:`hpo.storage.resolve_url` decides).

    Every front end that reads or writes a store takes its option from here.
    """
    parser.add_argument("--storage", metavar="URL",
                        help=f"storage URL (default: {DEFAULT_TEXT})")


def number_problems(args: argparse.Namespace, whole: tuple[str, ...] = (),
                    seconds: tuple[str, ...] = ()) -> list[str]:
    """One line per flag whose value is out of range: ``whole`` flags must be integers
    >= 1, ``seconds`` flags finite numbers > 0; a flag left out (None) is fine.

    Names are argparse destinations (``time_budget`` for ``--time-budget``).
    """
    out = []
    for dest in whole:
        value = getattr(args, dest, None)
        if value is not None and value < 1:
            out.append(f"{_flag(dest)} must be a whole number >= 1, got {value}")
    for dest in seconds:
        value = getattr(args, dest, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            out.append(f"{_flag(dest)} must be a number of seconds > 0, got {value:g}")
    return out


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")
