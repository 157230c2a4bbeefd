"""Small HTTP server: HTML pages, JSON endpoints and plotly.js, from the standard library.

Routes (all GET)::

    /                      studies list (a saved dashboard when started with one)
    /studies               studies list
    /study/<name>          one study
    /compare?study=a&study=b   comparison of studies
    /api/studies           summaries of every study
    /api/study/<name>?panel=history&panel=curves&metric=eval_loss&x=lr&y=wd&evaluator=fanova
                           [&tz=Europe/Berlin]  (the timeline's clock; UTC without it)
                           &style=interactive (WebGL parallel coordinates)
    /api/compare?study=a&study=b&panel=best_vs_time[&dashboard=1][&metric=eval_loss]
    /api/revision?study=a[&study=b]   cheap change counters for live polling
    /static/plotly.min.js  the plotly.js bundled with the plotly package
    /static/plotly-cartesian.min.js   plotly.js's partial bundle the pages start with
                           (see _plotlyjs)
    /static/app.js, /static/logic.js, /static/app.css   the pages' script and style
                           (package data in hpo/dashboard/static/; see _pages)

Binding to anything but loopback requires a token; requests then carry it as
``?token=`` (which also sets a cookie), a cookie, or ``Authorization: Bearer``.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import logging
import sys
import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hpo.cli._common import add_storage
from hpo.dashboard import _pages, _plotlyjs
from hpo.dashboard._analysis import DEFAULT_EVALUATOR, EvaluatorUnavailable
from hpo.dashboard._config import COMPARE_PANELS, Dashboard, Filters
from hpo.dashboard._views import STUDY_PANELS, Views
from hpo.results import Store, StoreError

_log = logging.getLogger("hpo.dashboard")
MAX_NAME = 512  # Optuna's study_name column is VARCHAR(512)


class DashboardError(ValueError):
    """Bad server settings (e.g. a public address without a token)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def valid_study_name(name: str) -> bool:
    """Plausible study name: non-empty, at most 512 characters, no control characters."""
    return 0 < len(name) <= MAX_NAME and all(ch.isprintable() for ch in name)


def _host_name(header: str | None) -> str:
    if not header:
        return "localhost"  # HTTP/1.0 clients may omit it
    if header.startswith("["):
        return header[1:header.find("]")]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # route access logs to logging
        _log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, code: int, body: str | bytes, ctype: str, headers: dict[str, str] | None = None
              ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Cache-Control" not in (headers or {}):
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str) -> None:
        self._send(code, json.dumps({"error": message}), "application/json")

    def _authorised(self, query: dict[str, list[str]]) -> tuple[bool, dict[str, str]]:
        token = self.server.token
        if token is None:
            return True, {}
        given = query.get("token", [None])[0]
        if given is not None:
            ok = hmac.compare_digest(given.encode(), token.encode())
            # Remember the token so the page's own fetches need not carry it in URLs.
            cookie = f"hpo_token={given}; HttpOnly; SameSite=Strict; Path=/"
            return ok, ({"Set-Cookie": cookie} if ok else {})
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return hmac.compare_digest(auth[7:].encode(), token.encode()), {}
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        if "hpo_token" in jar:
            return hmac.compare_digest(jar["hpo_token"].value.encode(), token.encode()), {}
        return False, {}

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if self.server.token is None and not is_loopback(_host_name(self.headers.get("Host"))):
            # Without a token only this machine may ask; a foreign Host header means a
            # web page elsewhere re-pointed its DNS name at us (DNS rebinding).
            self._error(403, f"unexpected Host header {self.headers.get('Host')!r}")
            return
        ok, extra = self._authorised(query)
        if not ok:
            self._error(401, "missing or wrong token: open the page with ?token=...")
            return
        try:
            self._route(unquote(parts.path), query, extra)
        except StoreError as exc:
            self._error(404 if "no study named" in str(exc) else 503, str(exc))
        except (KeyError, ValueError) as exc:
            self._error(400, str(exc.args[0]) if exc.args else str(exc))
        except EvaluatorUnavailable as exc:  # a missing optional package: the page says which
            self._error(501, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away mid-answer
        except Exception as exc:  # noqa: BLE001 - keep serving; report it to the page
            _log.exception("error serving %s", self.path)
            self._error(500, f"{type(exc).__name__}: {exc}")

    def _names(self, query: dict[str, list[str]]) -> list[str]:
        names = query.get("study", [])
        for n in names:
            if not valid_study_name(n):
                raise ValueError(f"invalid study name {n!r}")
        return names

    def _route(self, path: str, query: dict[str, list[str]], extra: dict[str, str]) -> None:
        srv = self.server
        if path in ("/static/plotly.min.js", f"/static/{_plotlyjs.CARTESIAN_FILE}"):
            body = srv.plotly_js(partial=path != "/static/plotly.min.js")
            if body is None:
                self._error(404, f"no {path!r}: it is not the installed plotly's version")
                return
            self._send(200, body, "application/javascript",
                       {"Cache-Control": "public, max-age=86400"})
            return
        if path.startswith("/static/"):
            name = path[len("/static/"):]
            if name not in _pages.ASSETS:
                self._error(404, f"no static file {name!r}")
                return
            # Pages link these with ?v=<digest of their contents>: a changed file has a
            # new URL, so browsers may keep this one.
            self._send(200, _pages.asset(name), _pages.CONTENT_TYPES[name[name.rfind("."):]],
                       {"Cache-Control": "public, max-age=86400"})
            return
        if path.startswith("/api/"):
            self._api(path[5:], query)
            return
        if path in ("/", "/studies"):
            if path == "/" and srv.dashboard is not None:
                self._html(srv.compare_config(srv.dashboard_studies(), srv.dashboard), extra)
            else:
                self._html({"page": "studies", "storage": srv.store.url}, extra)
        elif path.startswith("/study/"):
            name = path[len("/study/"):]
            if not valid_study_name(name):
                raise ValueError(f"invalid study name {name!r}")
            srv.store.meta(name)  # 404 for a missing study before drawing a page
            self._html({"page": "study", "study": name}, extra)
        elif path == "/compare":
            names = self._names(query)
            for n in names:
                srv.store.meta(n)
            self._html(srv.compare_config(names, None), extra)
        else:
            self._error(404, f"no page {path!r}")

    def _html(self, cfg: dict[str, Any], extra: dict[str, str]) -> None:
        cfg = {"root": "/", "home": "/studies", "refresh_s": self.server.refresh_s, **cfg}
        title = cfg.get("study") or cfg.get("title") or "hpo studies"
        self._send(200, _pages.page(str(title), cfg, "/static/"),
                   "text/html; charset=utf-8", extra)

    def _api(self, what: str, query: dict[str, list[str]]) -> None:
        srv = self.server
        one = {k: v[0] for k, v in query.items() if v}
        if what == "studies":
            body = json.dumps(srv.views.studies())
        elif what.startswith("study/"):
            name = what[len("study/"):]
            if not valid_study_name(name):
                raise ValueError(f"invalid study name {name!r}")
            panels = query.get("panel") or ["table", *STUDY_PANELS]
            for p in panels:
                if p not in STUDY_PANELS and p != "table":
                    raise ValueError(f"unknown panel {p!r}; choose from {list(STUDY_PANELS)}")
            opts = {k: one[k] for k in ("metric", "x", "y", "evaluator", "style", "tz")
                    if one.get(k)}
            body = srv.views.study(name, panels, opts)
        elif what == "compare":
            board = srv.dashboard if one.get("dashboard") else None
            names = srv.dashboard_studies() if board else self._names(query)
            panels = query.get("panel") or list(COMPARE_PANELS)
            for p in panels:
                if p not in COMPARE_PANELS:
                    raise ValueError(f"unknown panel {p!r}; choose from {list(COMPARE_PANELS)}")
            body = srv.views.compare(names, panels, board.filters if board else Filters(),
                                     board.importance_evaluator if board
                                     else DEFAULT_EVALUATOR, one.get("metric") or "objective")
        elif what == "revision":
            names = srv.dashboard_studies() if one.get("dashboard") and srv.dashboard \
                else self._names(query)
            body = json.dumps({"revision": srv.views.revision(names)})
        else:
            raise KeyError(f"no endpoint {what!r}")
        self._send(200, body, "application/json")


def _warm_plotly() -> None:
    """Load plotly's figure machinery and the pages' shared template once at start-up
    rather than in the first request.

    Also imports pandas when installed (~0.25 s): plotly's JSON encoder uses pandas only
    if it is already in ``sys.modules``, and Optuna's importance evaluators import it
    (through scikit-learn) on first use. A figure serialised in one thread while another
    thread is importing pandas sees the half-imported module and fails.

    The warm-up draws the first screen's panels of a three-trial study, plus a layout
    shape (what their plots of thousands of trials become): plotly builds each class it
    meets on first use, and hands arrays to narwhals, which looks for its plugins among
    every installed package's entry points on its first array. Measured, the first
    request of a study page spent 0.16 s on the entry points, 0.13 s on the shape class
    and 0.10 s on the axes' classes after a warm-up with an empty figure.
    """
    from hpo.dashboard import _figures
    from hpo.dashboard._views import study_figure

    try:
        import pandas  # noqa: F401
    except ImportError:
        pass
    snap = _tiny_study()
    for panel in _FIRST_SCREEN:
        fig = study_figure(snap, panel, {})
        if panel == "curves":
            fig.add_shape(type="path", path="M0,0L1,1")
        _figures.to_json(fig)
    _figures.template_json()  # every page embeds it (see _pages.page)


_FIRST_SCREEN = ("history", "history_time", "curves")  # at 1400x1000, see app.js


def _tiny_study() -> Any:
    """A snapshot of a made-up study: one complete, one pruned and one failed trial."""
    from hpo.results import StudyMeta, StudySnapshot, TrialRecord
    from hpo.storage import attrs

    meta = StudyMeta(0, "warm-up", ("maximize",), {attrs.METRIC: "accuracy"})
    trials = (
        TrialRecord(1, 0, "COMPLETE", 0.0, 3.0, (0.8,), intermediate={1: 0.6, 2: 0.8}),
        TrialRecord(2, 1, "PRUNED", 1.0, 2.0, intermediate={1: 0.5}, user_attrs={
            attrs.STOP: {"by": "asha", "rung": 1, "score": 0.5, "cutoff": 0.6}}),
        TrialRecord(3, 2, "FAIL", 2.0, 3.0, intermediate={1: 0.4},
                    user_attrs={attrs.FAIL_REASON: "made up"}),
    )
    return StudySnapshot(meta, trials, 0, 3.0)


class DashboardServer(ThreadingHTTPServer):
    """The dashboard's HTTP server over one store.

    Args:
        store: the storage reader.
        host: address to bind; anything but loopback needs ``token``.
        port: port to bind (0: any free port).
        token: shared secret required on every request when given.
        dashboard: a saved dashboard shown at ``/``.
        refresh_s: seconds between live-update polls in the pages (0: off).
        freeze: once every study is read, move everything alive into the collector's
            permanent generation (``gc.freeze``), for a process that only serves: the
            cached trials are then never walked by the cyclic collector again, which
            took 0.11-0.14 s of the first study page's request (measured).

    Raises:
        DashboardError: a non-loopback ``host`` without a token.
    """

    # socketserver listens with a backlog of 5: 32 clients polling on the same second
    # overflowed it, and each dropped connection waited for TCP's 1 s (then 3 s) SYN
    # retry, which made the polls' p99 1-2.7 s at 30 requests/s. The kernel caps it at
    # net.core.somaxconn.
    request_queue_size = 256

    daemon_threads = True

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 8080,
                 token: str | None = None, dashboard: Dashboard | None = None,
                 refresh_s: float = 3.0, freeze: bool = False) -> None:
        if not is_loopback(host) and not token:
            raise DashboardError(f"binding to {host!r} exposes the studies beyond this machine; "
                                 "give --token (or $HPO_DASHBOARD_TOKEN) to require one")
        self.store, self.token, self.dashboard = store, token or None, dashboard
        self._freeze = freeze
        self.views = Views(store)
        self.refresh_s = dashboard.refresh_s if dashboard else refresh_s
        self._plotly: dict[bool, bytes | None] = {}
        self._plotly_lock = threading.Lock()
        self.plotly_js(partial=False)  # read before listening: the first page needs them
        self.plotly_js(partial=True)
        _pages.assets_version()  # reads the static files: a missing one fails here, not later
        _warm_plotly()
        super().__init__((host, port), _Handler)
        # Read every study once in the background so the first page view finds them cached.
        threading.Thread(target=self._prefetch, name="hpo-dashboard-prefetch",
                         daemon=True).start()

    def _prefetch(self) -> None:
        # Figures are not computed ahead: measured, a warm-up thread racing the first page's
        # requests for the GIL made the first screen ~0.3 s slower, not faster.
        try:
            for name in self.store.study_names():
                self.store.snapshot(name)
        except Exception:  # noqa: BLE001 - a cold cache is fine; requests report errors
            _log.debug("prefetch failed", exc_info=True)
        if self._freeze:
            import gc

            # The trial records hold no reference cycles (reference counting frees them
            # when a refresh replaces them), so nothing is kept that would be collected.
            gc.freeze()

    def plotly_js(self, partial: bool = False) -> bytes | None:
        """plotly.js from the installed plotly package (works offline), or with ``partial``
        the cartesian bundle pages start with (None when it does not match; see _plotlyjs)."""
        with self._plotly_lock:
            if partial not in self._plotly:
                text = _plotlyjs.cartesian() if partial else _plotlyjs.full()
                self._plotly[partial] = None if text is None else text.encode("utf-8")
            return self._plotly[partial]

    def dashboard_studies(self) -> list[str]:
        """Studies of the saved dashboard present in the store now."""
        return self.dashboard.select(self.store.study_names()) if self.dashboard else []

    def compare_config(self, names: list[str], board: Dashboard | None) -> dict[str, Any]:
        """Page settings of a comparison (of a saved dashboard when ``board`` is given)."""
        cfg: dict[str, Any] = {"page": "compare", "studies": names,
                               "panels": list(board.panels if board else COMPARE_PANELS)}
        if board:
            cfg.update(title=board.title, description=board.description, dashboard="1")
        return cfg

    @property
    def url(self) -> str:
        """Address to open in a browser."""
        host, port = self.server_address[:2]
        if isinstance(host, (bytes, bytearray)):  # typeshed allows bytes; the bind was a str
            host = host.decode("ascii")
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"


def serve(url: str | None, host: str = "127.0.0.1", port: int = 8080, token: str | None = None,
          dashboard_path: str | None = None, refresh_s: float = 3.0) -> int:
    """Run the dashboard until interrupted; returns an exit code."""
    from hpo.dashboard._config import ConfigError, load_dashboard

    try:
        board = load_dashboard(dashboard_path) if dashboard_path else None
        store = Store(url)  # None: hpo.storage.resolve_url's default
        server = DashboardServer(store, host, port, token, board, refresh_s, freeze=True)
    except (ConfigError, StoreError, DashboardError, OSError) as exc:
        print(f"hpo dashboard: {exc}", file=sys.stderr)
        return 2
    print(f"hpo dashboard: serving {store.url} at {server.url}"
          + (" (token required)" if server.token else ""), file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m hpo.dashboard._server`` entry (the ``hpo dashboard`` CLI uses :func:`serve`)."""
    ap = argparse.ArgumentParser(prog="hpo-dashboard")
    ap.add_argument("dashboard", nargs="?")
    add_storage(ap)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--token")
    ap.add_argument("--refresh", type=float, default=3.0)
    a = ap.parse_args(argv)
    return serve(a.storage, a.host, a.port, a.token, a.dashboard, a.refresh)


if __name__ == "__main__":
    raise SystemExit(main())
