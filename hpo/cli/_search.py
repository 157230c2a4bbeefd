"""``hpo validate`` and ``hpo run``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hpo.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_MISMATCH,
    EXIT_STORE_UNAVAILABLE,
    add_storage,
    number_problems,
)


def _validate(args: argparse.Namespace) -> int:
    from hpo.execution._component_check import component_problems
    from hpo.spaces import SpaceError, load_space
    from hpo.trainables import resolve_trainable, unknown_settings

    failed = 0
    for path in args.spaces:
        try:
            spec = load_space(path)
        except SpaceError as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        try:
            unknown = unknown_settings(spec, resolve_trainable(spec.trainable))
        except ValueError as exc:  # unknown trainable, or its module cannot be imported
            unknown = [f"trainable: {exc}"]
        unknown += component_problems(spec)
        if unknown:
            for message in unknown:
                print(f"{path}: {message}", file=sys.stderr)
            failed += 1
            continue
        names = ", ".join(p.name for p in spec.params)
        print(f"{path}: ok ({len(spec.params)} parameters: {names}; objective "
              f"{spec.objective.direction} {spec.objective.metric}; sampler {spec.sampler.name},"
              f" scheduler {spec.scheduler.name}; fingerprint {spec.fingerprint()})")
    return EXIT_BAD_INPUT if failed else 0


def _run(args: argparse.Namespace) -> int:
    # Checked first: `--trials 0` once meant "the space's budget" and a negative one
    # ran nothing and exited 0.
    problems = number_problems(args, whole=("trials", "concurrency"),
                               seconds=("time_budget", "stale_after"))
    if problems:
        print(f"hpo run: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from hpo.service._client import server_url

    if server_url(args.server):  # submit to hpo serve instead of running here
        from hpo.cli._remote import run_remote

        return run_remote(args, server_url(args.server) or "")
    from hpo.results import StoreError
    from hpo.spaces import SpaceError, load_space
    from hpo.storage import StoreUnavailable, StudyMismatch

    try:
        spec = load_space(args.space)
    except SpaceError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    from hpo.execution import SearchInterrupted, run_search

    study_name = args.study
    try:
        if args.widen:  # a new study in wider ranges from the old one's trials (shipping.widen)
            spec, study_name = _widen(spec, args)
        if args.warm_start:  # enqueue earlier studies' best configs (hpo.shipping.warm_start)
            from hpo.shipping.warm_start import seed_search

            seed_search(spec, study_name, args.storage, args.warm_start, args.overwrite)
        result = run_search(
            spec, study_name=study_name, storage=args.storage, trials=args.trials,
            concurrency=args.concurrency, time_budget=args.time_budget,
            overwrite=args.overwrite, seed=args.seed, progress=not args.quiet,
            ray_address=args.address, keep_ray_output=args.ray_output,
            score_test=not args.no_test_score, stale_after=args.stale_after,
            max_retries=args.max_retries,
        )
    except SearchInterrupted as exc:
        print(f"hpo run: {exc}; every trial it started is closed in the store",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hpo run: interrupted", file=sys.stderr)
        return 130
    except StudyMismatch as exc:
        print(f"hpo run: {exc}", file=sys.stderr)
        return EXIT_MISMATCH
    except StoreUnavailable as exc:
        print(f"hpo run: search stopped: {exc}", file=sys.stderr)
        return EXIT_STORE_UNAVAILABLE
    except (ValueError, FileNotFoundError, StoreError) as exc:
        print(f"hpo run: {args.space}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    best = "-" if result.best_value is None else f"{result.best_value:.4g}"
    budget = " (time budget reached)" if result.stopped_by_budget else ""
    print(f"study {result.study_name}: {result.started} trials run this time in "
          f"{result.elapsed_s:.0f} s{budget}: {result.complete} complete, {result.pruned} "
          f"pruned, {result.failed} failed; best {spec.objective.metric} {best}")
    if result.test:
        t = result.test
        shown = ", ".join(f"{k} {v:.4g}" for k, v in t["metrics"].items()
                          if k not in ("examples", "validation_accuracy"))
        print(f"  test split ({int(t['metrics'].get('examples', 0))} examples, never seen "
              f"during the search): best trial {t['trial']} retrained with seed {t['seed']} "
              f"to step {t['step']}: {shown} ({t['seconds']:.0f} s)")
    print(f"  hpo show {result.study_name}    hpo best {result.study_name} --format yaml")
    for line in _closing_hints(result.storage_url, result.study_name):
        print(line)
    return 0


def _widen(spec: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """The widened space and the new study's name, with the old study's fitting trials
    added to it and the widening recorded (``--widen``)."""
    from hpo.results import Store
    from hpo.shipping.warm_start import target_study
    from hpo.shipping.widen import carry_trials, widen_space, widened_name
    from hpo.storage import attrs

    name = args.study or widened_name(args.widen)
    if name == args.widen:
        raise ValueError(f"--widen {args.widen}: the widened search needs a new study; "
                         "give --study another name")
    store = Store(args.storage)
    try:
        source = store.snapshot(args.widen)
    finally:
        store.close()
    spec, widening = widen_space(spec, source)
    target = target_study(spec, name, args.storage, args.overwrite)
    carried, left_out = carry_trials(spec, source, target)
    record = widening.record()
    earlier = target.user_attrs.get(attrs.WIDENED)
    if isinstance(earlier, dict):  # a rerun of the same command adds only new trials
        carried += int(earlier.get("carried") or 0)
    record.update(carried=carried, left_out=left_out)
    target.set_user_attr(attrs.WIDENED, record)
    for line in widening.lines():
        print(line, file=sys.stderr)
    print(f"widen: study {name}: {carried} finished trials of {args.widen} carried over "
          f"(not run again, not counted in the trial budget), {left_out} did not fit",
          file=sys.stderr)
    return spec, name


def _closing_hints(url: str, study: str) -> list[str]:
    """What the rung check did to the early stops and the best trial's parameters at the
    edge of their ranges, as ``hpo show`` says them, read back from the store (nothing if
    it cannot be read: the search itself is done and recorded)."""
    from hpo.results import Store, best_trial
    from hpo.results._edges import edge_lines
    from hpo.results._rung_notes import rung_lines

    try:
        store = Store(url)
    except Exception:  # noqa: BLE001 - a hint only
        return []
    try:
        snap = store.snapshot(study)
        return [f"  {line}" for line in rung_lines(snap.meta.user_attrs)] \
            + edge_lines(best_trial(snap), study)
    except Exception:  # noqa: BLE001 - a hint only
        return []
    finally:
        store.close()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check search-space files without running anything")
    p.add_argument("spaces", nargs="+", metavar="SPACE_YAML")
    p.set_defaults(func=_validate)

    p = sub.add_parser("run", help="run or continue a search")
    p.add_argument("space", metavar="SPACE_YAML")
    p.add_argument("--study", help="study name (default: the space's name or file stem)")
    add_storage(p)
    p.add_argument("--trials", type=int, help="total trials in the study, earlier runs included")
    p.add_argument("--concurrency", type=int, help="trials at once")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="wall-clock limit; running trials are stopped and recorded as PRUNED")
    p.add_argument("--seed", type=int, help="sampler seed")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a study of the same name made from a different experiment")
    p.add_argument("--address", help="Ray cluster address to join (default: start Ray here)")
    p.add_argument("--server", metavar="URL",
                   help="submit to hpo serve at URL instead of running here ($HPO_SERVER)")
    p.add_argument("--stale-after", type=float, default=40.0, metavar="SECONDS",
                   help="heartbeat bound: a trial whose driver is silent this long is failed "
                        "by any other driver on the study (default 40)")
    p.add_argument("--max-retries", type=int, metavar="N",
                   help="run a failed trial again up to N times with the same parameters, "
                        "from its last checkpoint (default: the space's max_retries, else 0)")
    p.add_argument("--no-test-score", action="store_true",
                   help="skip retraining the best trial and scoring it on the test split")
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.add_argument("--warm-start", metavar="STUDY[,STUDY...]",
                   help="seed the search with the best configs of earlier studies")
    p.add_argument("--widen", metavar="STUDY",
                   help="search on in a new study (default STUDY-widened) with the ranges "
                        "widened where STUDY's best trial sits at an edge, starting from "
                        "STUDY's finished trials that fit")
    p.add_argument("--ray-output", action="store_true",
                   help="keep Ray's result files and show worker logs")
    p.set_defaults(func=_run)
