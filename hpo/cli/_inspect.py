"""``hpo studies``, ``hpo show`` and ``hpo best``: reading results back.

They read through :mod:`hpo.results`, the reader the dashboard and the report use, so
the three agree on counts, best values and why trials stopped. Reading never creates
a store.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hpo.cli._common import EXIT_BAD_INPUT, EXIT_NOT_FOUND, add_storage
from hpo.cli._table import fmt, table

if TYPE_CHECKING:
    from hpo.results import Store, StudySnapshot


def _reads(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``fn``, with a store that cannot be read said on stderr (exit 2)."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        from hpo.results import StoreError

        try:
            return fn(args)
        except StoreError as exc:
            print(f"hpo: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


@contextmanager
def _reading(url: str | None) -> Iterator[Store | None]:
    """The store at ``url`` (see :func:`hpo.storage.resolve_url`), closed afterwards;
    None where nothing was ever written."""
    from hpo.results import Store, StoreNotFound

    try:
        store = Store(url)
    except StoreNotFound:
        yield None
        return
    try:
        yield store
    finally:
        store.close()


def _snapshot(args: argparse.Namespace) -> StudySnapshot | None:
    """Study ``args.study``; None, said on stderr with the studies there are, if absent."""
    from hpo.results import StudyNotFound

    names: list[str] = []
    with _reading(args.storage) as store:
        if store is not None:
            try:
                return store.snapshot(args.study)
            except StudyNotFound:
                names = store.study_names()
    print(f"hpo: no study {args.study!r} in the store; studies: "
          f"{', '.join(names) or 'none'}", file=sys.stderr)
    return None


@_reads
def _studies(args: argparse.Namespace) -> int:
    from hpo.results import summaries

    with _reading(args.storage) as store:
        rows = summaries(store) if store is not None else []
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    if not rows:
        print("no studies yet: hpo run SPACE_YAML")
        return 0
    print(table(
        ["study", "state", "trials (complete/pruned/failed/running)", "best", "metric"],
        [[r.name, r.state, f"{r.complete}/{r.pruned}/{r.failed}/{r.running}"
          + (f" (+{r.waiting} waiting)" if r.waiting else ""), r.best,
          f"{r.direction} {r.metric}"] for r in rows],
    ))
    return 0


@_reads
def _show(args: argparse.Namespace) -> int:
    from hpo.results import best_trial, leaderboard
    from hpo.results._edges import edge_lines
    from hpo.results._rung_notes import rung_lines

    snap = _snapshot(args)
    if snap is None:
        return EXIT_NOT_FOUND
    rows = leaderboard(snap)
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in rows], indent=2, default=str))
        return 0
    if args.top:
        rows = rows[: args.top]
    shown = [[r.rank, r.number, r.state, r.value, _params(r.params), r.step,
              None if r.duration_s is None else f"{r.duration_s:.1f}s"] for r in rows]
    print(table(["rank", "trial", "state", "value", "params", "step", "duration"], shown,
                max_width=90))
    notes = [(r.number, r.note) for r in rows if r.note]
    if notes:
        print("\nwhy trials stopped early or failed:")
        for number, note in notes:
            print(f"  trial {number}: {note}")
    edges = edge_lines(best_trial(snap), snap.meta.name)
    if edges:
        print("\n" + "\n".join(edges))
    rungs = rung_lines(snap.meta.user_attrs)
    if rungs:
        print("\n" + "\n".join(rungs))
    from hpo.shipping.widen import record_lines

    widened = record_lines(snap.meta.user_attrs)
    if widened:
        print("\n" + "\n".join(widened))
    return 0


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in params.items())


@_reads
def _best(args: argparse.Namespace) -> int:
    from hpo.results import best_config, best_trial
    from hpo.results._edges import edge_lines

    snap = _snapshot(args)
    if snap is None:
        return EXIT_NOT_FOUND
    try:
        best = best_config(snap)
    except ValueError as exc:
        print(f"hpo: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.format == "json":
        print(json.dumps(best, indent=2))
    else:
        import yaml

        print(yaml.safe_dump(best, sort_keys=False), end="")
    # On stderr: the config on stdout stays one document a pipeline can read.
    for line in edge_lines(best_trial(snap), snap.meta.name):
        print(line, file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studies", help="list studies with trial counts and best values")
    add_storage(p)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=_studies)

    p = sub.add_parser("show", help="leaderboard of one study, with why trials stopped")
    p.add_argument("study")
    add_storage(p)
    p.add_argument("--top", type=int, help="show only the first N rows")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=_show)

    p = sub.add_parser("best", help="the best trial's full config, ready to reuse")
    p.add_argument("study")
    add_storage(p)
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.set_defaults(func=_best)
