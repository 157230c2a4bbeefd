"""One HTTP server: the ``/api/v1`` routes and ``/openapi.json`` beside the dashboard.

It is the dashboard's own standard-library server (:class:`DashboardServer`, a
``ThreadingHTTPServer``) with a request handler that answers the API paths and hands
every other GET to the dashboard's handler unchanged, so the pages, their token and
their caches stay the dashboard's. The standard library is enough here: requests are
small JSON, concurrency is one thread per request, and no declared dependency serves
HTTP.

Every API request is checked, in order: the Host header (without a token only this
machine's names, against DNS rebinding), the bearer token (with one), the body's size
(at most :data:`MAX_BODY` bytes, else 413) and type (``application/json``, else 415: a
web page cannot send that to another origin without a CORS preflight, which this
server answers only for ``--cors-origin``), then the route.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hpo.dashboard._server import DashboardServer, _host_name, is_loopback
from hpo.dashboard._server import _Handler as DashboardHandler
from hpo.service import _api, _openapi
from hpo.service._auth import bearer_ok

_log = logging.getLogger("hpo.service")
MAX_BODY = 1024 * 1024
#: A body larger than MAX_BODY but at most this is read and dropped before the 413.
DRAIN_LIMIT = 8 * MAX_BODY
API_PREFIX = "/api/v1/"


class ServiceServer(DashboardServer):
    """The dashboard's server over ``app.store``, answering the API as well.

    Args:
        app: what the API works on (queue, store, spaces folder).
        host, port, token: as for :class:`DashboardServer`; the token also guards the API.
        cors_origin: an origin allowed to call the API from a browser (none by default).
    """

    def __init__(self, app: _api.App, host: str = "127.0.0.1", port: int = 8080,
                 token: str | None = None, cors_origin: str | None = None,
                 refresh_s: float = 3.0) -> None:
        self.app = app
        self.cors_origin = cors_origin
        super().__init__(app.store, host, port, token, None, refresh_s)
        self.RequestHandlerClass = ServiceHandler
        self.openapi = json.dumps(_openapi.document(secured=token is not None)).encode()


class ServiceHandler(DashboardHandler):
    server: ServiceServer

    def _api_path(self) -> str | None:
        path = unquote(urlsplit(self.path).path)
        return path if path.startswith(API_PREFIX) or path == "/openapi.json" else None

    def _json(self, code: int, payload: Any) -> None:
        headers = {}
        if self.server.cors_origin:
            headers = {"Access-Control-Allow-Origin": self.server.cors_origin,
                       "Vary": "Origin"}
        body = json.dumps(payload, allow_nan=False)
        self._send(code, body, "application/json", headers)

    def _fail(self, code: int, message: str) -> None:
        self._json(code, {"error": message, "status": code})

    def _checked(self) -> bool:
        srv = self.server
        if srv.token is None and not is_loopback(_host_name(self.headers.get("Host"))):
            self._fail(403, f"Host: unexpected Host header {self.headers.get('Host')!r}")
            return False
        if not bearer_ok(self.headers.get("Authorization"), srv.token):
            self._fail(401, "Authorization: missing or wrong token; send "
                            "'Authorization: Bearer TOKEN'")
            return False
        return True

    def _body(self) -> Any:
        raw_len = self.headers.get("Content-Length")
        try:
            length = int(raw_len) if raw_len is not None else 0
        except ValueError:
            raise _api.ApiError(400, f"Content-Length: not a number, got {raw_len!r}") from None
        if length > MAX_BODY:
            # Read (and drop) a body up to a few times the limit before answering, so the
            # client, still sending, gets the 413 instead of a broken pipe; past that the
            # connection is closed under it.
            self.close_connection = True
            if length <= DRAIN_LIMIT:
                left = length
                while left > 0:
                    chunk = self.rfile.read(min(left, 64 * 1024))
                    if not chunk:
                        break
                    left -= len(chunk)
            raise _api.ApiError(413, f"body: at most {MAX_BODY} bytes, got {length}")
        if length < 0:
            raise _api.ApiError(400, f"Content-Length: negative, got {length}")
        data = self.rfile.read(length) if length else b""
        if not data:
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _api.ApiError(415, f"Content-Type: expected application/json, got {ctype!r}")
        try:
            # JSON only: nothing from a request is unpickled. Strict JSON has no NaN or
            # Infinity, which Python's parser would otherwise accept.
            return json.loads(data, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _api.ApiError(400, f"body: not valid JSON: {exc}") from None

    def _dispatch(self, method: str) -> None:
        path = self._api_path()
        if path is None:
            if method == "GET":
                super().do_GET()
            else:
                self._fail(405, f"method {method} not allowed on {urlsplit(self.path).path!r}")
            return
        if not self._checked():
            return
        try:
            if path == "/openapi.json":
                if method != "GET":
                    raise _api.ApiError(405, f"method {method} not allowed on '/openapi.json'")
                self._send(200, self.server.openapi, "application/json")
                return
            route, params = _api.match(method, path)
            body = self._body() if method in ("POST", "PUT") else None
            if route.body and body is None:
                raise _api.ApiError(400, "body: a JSON object is required")
            # Blank values kept: ``?offset=`` is a bad offset (400), not a missing one.
            query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            code, payload = _api.answer(self.server.app, route, params, query, body)
            self._json(code, payload)
        except _api.ApiError as exc:
            self._fail(exc.status, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - keep serving; the log has the traceback
            _log.exception("error serving %s %s", method, self.path)
            self._fail(500, f"{type(exc).__name__}: {exc}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_OPTIONS(self) -> None:
        origin = self.server.cors_origin
        if not origin or self.headers.get("Origin") != origin:
            self._fail(405, "OPTIONS: no cross-origin access is configured "
                            "(hpo serve --cors-origin ORIGIN)")
            return
        self._send(204, b"", "text/plain", {
            "Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, POST, DELETE",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600"})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def default_spaces_dir() -> Path | None:
    """The shipped ``search_spaces/`` folder beside the package, when it is there."""
    here = Path(__file__).resolve().parents[2] / "search_spaces"
    return here if here.is_dir() else None
