"""``hpo doctor``: find and clean up what a killed hpo driver left of its Ray instance."""

from __future__ import annotations

import argparse


def _doctor(args: argparse.Namespace) -> int:
    from hpo.execution import _ray_instances as instances

    if not instances.supported():
        print("hpo doctor: needs Linux's /proc; nothing checked")
        return 0
    folder = instances.state_dir()
    records = instances.instances()
    live = [inst for inst in records if inst.alive]
    for inst in live:
        if inst.gcs_address:
            print(f"running: driver {inst.driver_pid}, Ray instance at {inst.gcs_address} "
                  f"(RAY_AUTH_MODE=token ray status --address {inst.gcs_address})")
        else:
            print(f"running: driver {inst.driver_pid}, its Ray instance is starting")
    dead = instances.clean_dead_instances(dry_run=args.dry_run, grace_s=args.grace)
    verb = ("would stop", "would remove") if args.dry_run else ("stopped", "removed")
    for inst in dead:
        print(f"dead driver {inst.driver_pid}: session {inst.session_dir or '(none recorded)'}")
        if inst.pids:
            print(f"  {verb[0]} {len(inst.pids)} Ray processes: "
                  f"{' '.join(str(p) for p in inst.pids)}")
        else:
            print("  no Ray process of it is left")
        for path in inst.dirs:
            print(f"  {verb[1]} {path}")
        if inst.survivors:
            print(f"  still alive after SIGKILL: {' '.join(str(p) for p in inst.survivors)}"
                  "; its record is kept, run hpo doctor again")
    if not records:
        print(f"no Ray instances recorded in {folder}")
    elif not dead:
        print("nothing to clean up")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help="clean up Ray processes and folders left by a killed hpo run")
    p.add_argument("--dry-run", action="store_true",
                   help="only print what would be stopped and removed")
    p.add_argument("--grace", type=float, default=2.0, metavar="SECONDS",
                   help="wait this long after SIGTERM before SIGKILL (default 2)")
    p.set_defaults(func=_doctor)
