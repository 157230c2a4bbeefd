"""The service's token: where it comes from, when it is required, how it is checked.

The token is read from ``--token-file FILE`` or ``$HPO_TOKEN``, never from the
command line (where ``ps`` shows it to every user of the machine). Bound to loopback
the server needs none; bound to anything else it refuses to start without one, and
then every request must carry ``Authorization: Bearer TOKEN``, compared in constant
time.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

TOKEN_ENV = "HPO_TOKEN"
MIN_TOKEN_CHARS = 16


class ServiceConfigError(ValueError):
    """Settings the server refuses to start with."""


def load_token(token_file: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The token from ``token_file`` (its first line), else ``$HPO_TOKEN``, else None.

    Raises:
        ServiceConfigError: the file cannot be read, or the token is too short to guess
            only with effort (fewer than 16 characters).
    """
    env = os.environ if environ is None else environ
    source = TOKEN_ENV
    if token_file:
        try:
            lines = Path(token_file).read_text().splitlines()
        except OSError as exc:
            raise ServiceConfigError(f"--token-file {token_file!r}: cannot read it: "
                                     f"{exc.strerror}") from None
        token, source = (lines[0].strip() if lines else ""), f"--token-file {token_file!r}"
    else:
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS:
        raise ServiceConfigError(f"{source}: the token must be at least {MIN_TOKEN_CHARS} "
                                 f"characters, got {len(token)}")
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback ``host`` without a token.

    Raises:
        ServiceConfigError: naming the host and where a token may come from.
    """
    from hpo.dashboard._server import is_loopback

    if token is None and not is_loopback(host):
        raise ServiceConfigError(
            f"--host {host!r}: binding beyond this machine needs a token; give "
            f"--token-file FILE or set ${TOKEN_ENV} (every request then needs "
            "'Authorization: Bearer TOKEN')")


def bearer_ok(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always, without a token)."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())
