"""Pieces shared by CLI commands."""

from __future__ import annotations

import argparse

from hpo.storage._url import DEFAULT_TEXT

EXIT_BAD_INPUT = 2
EXIT_MISMATCH = 3
EXIT_NOT_FOUND = 4


def add_storage(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage URL`` (None when not given: :func:`hpo.storage.resolve_url` decides).

    Every front end that reads or writes a store takes its option from here.
    """
    parser.add_argument("--storage", metavar="URL",
                        help=f"storage URL (default: {DEFAULT_TEXT})")
