"""``hpo dashboard`` and ``hpo report`` subcommands, added to hpo's CLI by :func:`register`."""

from __future__ import annotations

import argparse
import os
import sys

from hpo.cli._common import EXIT_BAD_INPUT, add_storage


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dashboard`` and ``report`` to ``subparsers``; handlers return exit codes."""
    d = subparsers.add_parser(
        "dashboard", help="serve live dashboards of the studies in a store",
        description="Serve the studies list, study pages and comparisons; pages update "
                    "while a search writes to the store.")
    d.add_argument("dashboard_yaml", nargs="?", metavar="DASHBOARD_YAML",
                   help="saved comparison dashboard (see dashboards/README.md) shown at /")
    add_storage(d)
    d.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; others require --token)")
    d.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    d.add_argument("--token", default=None,
                   help="secret required on every request (default $HPO_DASHBOARD_TOKEN)")
    d.add_argument("--refresh", type=float, default=3.0, metavar="SECONDS",
                   help="live-update poll interval of the pages (0: off; default 3)")
    d.set_defaults(func=_dashboard)

    r = subparsers.add_parser("report", help="write one study as a self-contained HTML file",
                              description="Write a static HTML report (plotly.js inline, "
                                          "works offline) of one study.")
    r.add_argument("study", metavar="STUDY", help="study name")
    r.add_argument("--out", required=True, help="output HTML file")
    add_storage(r)
    r.set_defaults(func=_report)


def _dashboard(args: argparse.Namespace) -> int:
    from hpo.dashboard._server import serve

    token = args.token or os.environ.get("HPO_DASHBOARD_TOKEN") or None
    return serve(args.storage, args.host, args.port, token, args.dashboard_yaml, args.refresh)


def _report(args: argparse.Namespace) -> int:
    from hpo.dashboard._report import write_report
    from hpo.results import StoreError
    from hpo.storage import resolve_url

    try:
        path = write_report(resolve_url(args.storage), args.study, args.out)
    except (StoreError, OSError) as exc:
        print(f"hpo report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"hpo report: wrote {path}", file=sys.stderr)
    return 0
