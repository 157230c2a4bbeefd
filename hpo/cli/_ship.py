"""``hpo finalize``, ``hpo export`` and ``hpo train``: from a search to a shipped model."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hpo.cli._common import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_NOT_FOUND, add_storage

if TYPE_CHECKING:
    from hpo.shipping.finalize import FinalizeResult


def _size(text: str) -> int | float:
    """``--selection-size``: a count (``300``) or a fraction of the training data (``0.2``)."""
    value = float(text)
    return int(value) if value >= 1 and value == int(value) else value


def print_finalize(result: FinalizeResult) -> None:
    """Every candidate's search score, mean, spread and 95 % interval; the pick; optimism."""
    from hpo.cli._table import table

    sel = result.selection
    where = {"carved": f"a selection split of {sel.get('size')} carved from the training data",
             "given": f"the selection data {sel.get('source')}",
             "none": "what the trainable reports (it has no data section to carve a "
                     "selection split from)"}[sel["kind"]]
    print(f"finalize of {result.study}: {len(result.candidates)} configs x "
          f"{len(result.seeds)} seeds in study {result.finalize_study}, scored on {where}"
          + (f" ({result.reused} runs reused)" if result.reused else ""))
    rows = []
    for c in result.candidates:
        iv = c.interval
        mark = "*" if result.picked is not None and c.trial == result.picked.trial else ""
        rows.append([
            f"{mark}{c.trial}", f"{c.search_score:.4f}",
            "-" if iv is None else f"{iv.mean:.4f}", "-" if iv is None else f"{iv.std:.4f}",
            "-" if iv is None else f"[{iv.low:.4f}, {iv.high:.4f}]",
            f"{0 if iv is None else iv.n}/{len(result.seeds)}",
            "-" if iv is None else f"{c.search_score - iv.mean:+.4f}",
            " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in c.params.items()),
        ])
    print(table(["trial", "search", "mean", "std", "95% interval", "seeds", "optimism",
                 "params"], rows))
    if result.picked is None:
        print("no candidate finished a run: nothing picked")
        return
    rule = "best mean" if result.pick_by == "mean" else "best lower bound of the 95 % interval"
    print(f"picked trial {result.picked.trial} by {rule}; optimism (search score minus "
          f"selection score) {result.optimism:+.4f}")
    print(f"  hpo export {result.study} --out best.yaml")


def _finalize(args: argparse.Namespace) -> int:
    from hpo.execution import SearchInterrupted
    from hpo.shipping.finalize import finalize

    try:
        result = finalize(
            args.study, storage=args.storage, top_k=args.top_k, seeds=args.seeds,
            pick_by=args.pick, selection_size=args.selection_size,
            selection_source=args.selection_data, concurrency=args.concurrency,
            ray_address=args.address, progress=not args.quiet, time_budget=args.time_budget)
    except KeyError as exc:
        print(f"hpo finalize: {exc.args[0]}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except SearchInterrupted as exc:
        print(f"hpo finalize: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ValueError, FileNotFoundError) as exc:
        print(f"hpo finalize: {args.study}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print_finalize(result)
    return 0


def _export(args: argparse.Namespace) -> int:
    from hpo.shipping.bundle import export

    try:
        bundle = export(args.study, args.out, storage=args.storage, fmt=args.format,
                        trial=args.trial)
    except KeyError as exc:
        print(f"hpo export: {exc.args[0]}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except ValueError as exc:
        print(f"hpo export: {args.study}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    robust = bundle["scores"]["robust"]
    how = ("finalized: mean over seeds {mean:.4f}, 95 % interval [{low:.4f}, {high:.4f}]"
           .format(**robust) if robust and robust.get("mean") is not None
           else "not finalized: the best trial of the search")
    print(f"wrote {args.out}: trial {bundle['provenance']['trial']} of {args.study} ({how})")
    print(f"  hpo train {args.out} --out models/{args.study}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from hpo.shipping.bundle import BundleError
    from hpo.shipping.train import BundleMismatch, train_bundle

    try:
        metrics = train_bundle(args.bundle, args.out, full_data=args.full_data, lora=args.lora,
                               force=args.force, threads=args.threads, progress=not args.quiet)
    except BundleMismatch as exc:
        print(f"hpo train: {exc}", file=sys.stderr)
        return EXIT_MISMATCH
    except (BundleError, ValueError, FileNotFoundError) as exc:
        print(f"hpo train: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics["test"].items() if k != "examples")
    print(f"wrote {args.out}: test split ({int(metrics['test'].get('examples', 0))} examples, "
          f"scored once): {shown}; trained {metrics['train_seconds']:.0f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finalize", help="re-run the top configs over seeds and pick robustly")
    p.add_argument("study")
    add_storage(p)
    p.add_argument("--top-k", type=int, default=5, help="configs to re-run (default 5)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per config (default 5)")
    p.add_argument("--pick", choices=("mean", "lower"), default="mean",
                   help="pick by mean (default) or by the 95 %% interval's lower bound")
    p.add_argument("--selection-size", type=_size, metavar="N",
                   help="examples (or a fraction) carved from the training data to score "
                        "finalists on (default: as many as the validation split)")
    p.add_argument("--selection-data", metavar="PATH",
                   help="score finalists on this file or folder instead")
    p.add_argument("--concurrency", type=int,
                   help="runs at once (default: the space's, else chosen from the CPUs)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="wall-clock limit; unfinished runs are left out of the summary")
    p.add_argument("--address", help="Ray cluster address to join (default: start Ray here)")
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.set_defaults(func=_finalize)

    p = sub.add_parser("export", help="write the promotion bundle: config + provenance + scores")
    p.add_argument("study")
    add_storage(p)
    p.add_argument("--out", required=True, help="bundle file (.yaml or .json)")
    p.add_argument("--format", choices=("yaml", "json"),
                   help="default: from --out's suffix, else yaml")
    p.add_argument("--trial", type=int,
                   help="export this trial (default: the finalize pick, else the best trial)")
    p.set_defaults(func=_export)

    p = sub.add_parser("train", help="train the final model from a bundle")
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--out", required=True, help="model folder to create")
    p.add_argument("--full-data", action="store_true", help="train on train + validation")
    p.add_argument("--lora", choices=("merge", "adapter"), default="merge",
                   help="LoRA adapters merged into the weights (default) or saved as a "
                        "peft adapter")
    p.add_argument("--force", action="store_true",
                   help="train even when the model or data changed since the search")
    p.add_argument("--threads", type=int, help="torch threads (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_train)
