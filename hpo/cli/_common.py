"""Pieces shared by CLI commands."""

from __future__ import annotations

import argparse

EXIT_BAD_INPUT = 2
EXIT_MISMATCH = 3
EXIT_NOT_FOUND = 4


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage", metavar="URL",
        help="storage URL (default: $HPO_STORAGE, else sqlite:///./hpo-results/hpo.db)",
    )
