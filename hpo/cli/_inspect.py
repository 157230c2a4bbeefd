"""``hpo studies``, ``hpo show`` and ``hpo best``: reading results back."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hpo.cli._common import EXIT_NOT_FOUND, add_storage
from hpo.cli._table import fmt, table


def _load(args: argparse.Namespace) -> Any:
    import optuna

    from hpo.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(args.storage)
    try:
        return optuna.load_study(study_name=args.study, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        print(f"hpo: no study {args.study!r} in the store; studies: "
              f"{', '.join(names) or 'none'}", file=sys.stderr)
        return None


def _studies(args: argparse.Namespace) -> int:
    from hpo.results import summarize
    from hpo.storage import open_storage

    rows = summarize(open_storage(args.storage))
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
          f"{r.direction} {r.metric or '?'}"] for r in rows],
    ))
    return 0


def _show(args: argparse.Namespace) -> int:
    from hpo.results import leaderboard

    study = _load(args)
    if study is None:
        return EXIT_NOT_FOUND
    rows = leaderboard(study)
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
    return 0


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in params.items())


def _best(args: argparse.Namespace) -> int:
    from hpo.results import best_config

    study = _load(args)
    if study is None:
        return EXIT_NOT_FOUND
    try:
        best = best_config(study)
    except ValueError:
        print(f"hpo: study {args.study!r} has no COMPLETE trial yet", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.format == "json":
        print(json.dumps(best, indent=2))
    else:
        import yaml

        print(yaml.safe_dump(best, sort_keys=False), end="")
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
