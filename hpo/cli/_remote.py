"""``hpo status`` and ``hpo cancel`` against a server, and ``hpo run --server``'s submit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hpo.cli._common import EXIT_BAD_INPUT, EXIT_NOT_FOUND

SERVER_HELP = "hpo serve's URL (default: $HPO_SERVER)"


def _client(args: argparse.Namespace) -> Any:
    from hpo.service._client import Client, server_url

    url = server_url(args.server)
    if url is None:
        print(f"hpo {args.command}: give --server URL or set $HPO_SERVER", file=sys.stderr)
        return None
    return Client(url)


def _exit_code(status: int) -> int:
    return EXIT_NOT_FOUND if status == 404 else EXIT_BAD_INPUT if status else 1


def describe(search: dict[str, Any]) -> str:
    """One search in two lines, as ``hpo status`` prints it."""
    p = search.get("progress") or {}
    c = p.get("counts", {})
    best = "-" if p.get("best") is None else f"{p['best']:.4g}"
    elapsed = "-" if p.get("elapsed_s") is None else f"{p['elapsed_s']:.0f} s"
    left = "" if p.get("estimate_s") is None else f", about {p['estimate_s']:.0f} s left"
    target = p.get("target_trials") or "?"
    line = (f"search {search['id']} (study {search['study']}): {search['state']}, attempt "
            f"{search['attempt']}; trials {p.get('n_trials', 0)}/{target}: "
            f"{c.get('COMPLETE', 0)} complete, {c.get('RUNNING', 0)} running, "
            f"{c.get('PRUNED', 0)} pruned, {c.get('FAIL', 0)} failed; best {best}; "
            f"elapsed {elapsed}{left}")
    return line + (f"\n  {search['reason']}" if search.get("reason") else "")


def _status(args: argparse.Namespace) -> int:
    from hpo.service._client import ClientError

    client = _client(args)
    if client is None:
        return EXIT_BAD_INPUT
    try:
        search = client.find(args.search)
    except ClientError as exc:
        print(f"hpo status: {exc}", file=sys.stderr)
        return _exit_code(exc.status)
    print(json.dumps(search, indent=2) if args.format == "json" else describe(search))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from hpo.service._client import ClientError

    client = _client(args)
    if client is None:
        return EXIT_BAD_INPUT
    try:
        search = client.cancel(client.find(args.search)["id"])
    except ClientError as exc:
        print(f"hpo cancel: {exc}", file=sys.stderr)
        return _exit_code(exc.status)
    print(f"search {search['id']} (study {search['study']}): {search['state']}")
    return 0


def run_remote(args: argparse.Namespace, server: str) -> int:
    """``hpo run SPACE --server URL``: submit the space file's text with the overrides."""
    from hpo.service._client import Client, ClientError

    for flag, value in (("--storage", args.storage), ("--address", args.address),
                        ("--overwrite", args.overwrite)):
        if value:
            print(f"hpo run: {flag} is the server's to decide; leave it out with --server",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        with open(args.space, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        print(f"hpo run: {args.space}: cannot read it: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    body: dict[str, Any] = {"space": text, "study": args.study, "trials": args.trials,
                            "concurrency": args.concurrency, "time_budget": args.time_budget,
                            "seed": args.seed, "test_score": not args.no_test_score,
                            "stale_after": args.stale_after}
    body = {k: v for k, v in body.items() if v is not None}
    client = Client(server)
    try:
        search = client.submit(body)
    except ClientError as exc:
        print(f"hpo run: {args.space}: {exc}", file=sys.stderr)
        return _exit_code(exc.status)
    print(f"search {search['id']} (study {search['study']}) queued on {server}\n"
          f"  hpo status {search['study']} --server {server}    "
          f"hpo cancel {search['study']} --server {server}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="a search's progress on a server")
    p.add_argument("search", metavar="STUDY_OR_ID")
    p.add_argument("--server", metavar="URL", help=SERVER_HELP)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_status)

    p = sub.add_parser("cancel", help="cancel a search on a server")
    p.add_argument("search", metavar="STUDY_OR_ID")
    p.add_argument("--server", metavar="URL", help=SERVER_HELP)
    p.set_defaults(func=_cancel)
