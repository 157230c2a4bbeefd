"""``hpo serve``: the HTTP API, the job queue and the dashboard in one server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpo.cli._common import EXIT_BAD_INPUT, add_storage


def _serve(args: argparse.Namespace) -> int:
    from hpo.service._auth import ServiceConfigError, check_bind, load_token

    try:
        token = load_token(args.token_file)
        check_bind(args.host, token)  # before Ray starts: a refusal costs nothing
    except ServiceConfigError as exc:
        print(f"hpo serve: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.answer_max_age < 0:
        print(f"hpo serve: --answer-max-age: must be >= 0, got {args.answer_max_age}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.max_running < 1:
        print(f"hpo serve: --max-running: must be at least 1, got {args.max_running}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    from hpo.service._ray_jobs import RayJobs
    from hpo.service._service import Service

    try:
        launcher = RayJobs(args.address, args.num_cpus)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; all end the start-up
        print(f"hpo serve: cannot start or join Ray: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    try:
        service = Service(args.storage, launcher, host=args.host, port=args.port, token=token,
                          cors_origin=args.cors_origin, max_running=args.max_running,
                          spaces_dir=Path(args.spaces_dir) if args.spaces_dir else None,
                          allow_custom=args.allow_custom_code,
                          answer_max_age_s=args.answer_max_age)
    except (ValueError, OSError) as exc:
        launcher.close()
        print(f"hpo serve: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"hpo serve: serving {service.url} at {service.server.url} (API {service.url_http}"
          f"/api/v1, OpenAPI {service.url_http}/openapi.json; Ray jobs at "
          f"{launcher.dashboard_url})" + (" (token required)" if token else ""),
          file=sys.stderr, flush=True)
    import signal

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the server as Ctrl-C does, cleanly

    # SIGINT too, explicitly, as `hpo run` does: Python installs its own SIGINT handler
    # only when the process did not inherit SIGINT ignored, and a server started with
    # `&` by a shell without job control (a script) inherits it ignored, so `kill -INT`
    # would never reach it. A second signal during close() interrupts the clean-up, as
    # a second Ctrl-C does anywhere.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    try:
        service.start()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    # No abbreviations: "--token SECRET" must fail, not be read as --token-file.
    p = sub.add_parser("serve", help="serve the HTTP API, the job queue and the dashboard",
                       allow_abbrev=False)
    add_storage(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else needs a token)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--token-file", metavar="FILE",
                   help="file whose first line is the token (default: $HPO_TOKEN)")
    p.add_argument("--address", help="Ray cluster to submit the searches to: auto, its "
                                     "HOST:PORT or its job API http://HOST:8265 (default: "
                                     "start a one-node cluster here with ray start)")
    p.add_argument("--num-cpus", type=float, help="CPUs of the local Ray instance")
    p.add_argument("--max-running", type=int, default=1, metavar="N",
                   help="searches run at once (default 1)")
    p.add_argument("--spaces-dir", metavar="DIR",
                   help="shipped spaces a submission may name (default: search_spaces/)")
    p.add_argument("--allow-custom-code", action="store_true",
                   help="let submitted spaces name code to import (module:function)")
    p.add_argument("--cors-origin", metavar="ORIGIN",
                   help="one browser origin allowed to call the API (default: none)")
    p.add_argument("--answer-max-age", type=float, default=1.0, metavar="SECONDS",
                   help="how long one answer of a status, trials or list request serves "
                        "every client asking the same (default 1; 0: read the store for "
                        "each request)")
    p.set_defaults(func=_serve)
