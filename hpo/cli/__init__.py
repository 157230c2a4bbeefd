"""The ``hpo`` command line. Each command lives in a small module with a ``register``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hpo._version import __version__

#: Modules whose ``register(subparsers)`` adds commands, in help order.
COMMAND_MODULES = ("hpo.cli._search", "hpo.cli._inspect", "hpo.cli._ship", "hpo.cli._doctor",
                   "hpo.cli._serve", "hpo.cli._remote")
#: Optional command modules: skipped only if the module itself is absent.
OPTIONAL_COMMAND_MODULES = ("hpo.dashboard._cli",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpo",
        description="Hyperparameter optimisation for fine-tuning pre-trained models.",
    )
    parser.add_argument("--version", action="version", version=f"hpo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\nhpo: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:  # a missing extra: one line naming it, not a traceback
        from hpo._imports import missing_extra_line
        from hpo.cli._common import EXIT_MISSING_EXTRA

        line = missing_extra_line(exc)
        if line is None:
            raise
        print(f"hpo {args.command}: {line}", file=sys.stderr)
        return EXIT_MISSING_EXTRA


if __name__ == "__main__":
    sys.exit(main())
