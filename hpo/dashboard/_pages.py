"""HTML shell of the server pages and the static report, around the files in ``static/``.

Pages are one template filled with a JSON config; the browser script (``static/app.js``
on ``static/logic.js``, styled by ``static/app.css``) fetches the page's JSON, draws it
with plotly.js and, when live, polls a cheap revision endpoint and redraws only when the
study changed. The server links those files (``/static/...``); the static report inlines
them so it stays one self-contained file. Study names reach the DOM as text, never as
HTML, and the JSON config is escaped so it cannot close its script tag.

Names the Python side defines and the script needs (study panels in page order,
importance evaluators, trial states) travel in the config as ``names``: the script
never repeats them.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
from importlib import resources
from typing import Any

# The browser files in ``hpo/dashboard/static/``, in the order a page loads them.
STYLES = ("app.css",)
SCRIPTS = ("logic.js", "app.js")  # logic.js defines window.HPOLogic, which app.js uses
ASSETS = STYLES + SCRIPTS
CONTENT_TYPES = {".css": "text/css; charset=utf-8",
                 ".js": "application/javascript; charset=utf-8"}


@functools.cache
def asset(name: str) -> str:
    """The text of one file of ``hpo/dashboard/static/`` (package data; read once).

    Raises:
        KeyError: ``name`` is not one of :data:`ASSETS`.
    """
    if name not in ASSETS:
        raise KeyError(f"no static file {name!r}; have {list(ASSETS)}")
    text = (resources.files("hpo.dashboard") / "static" / name).read_text(encoding="utf-8")
    # Inlined into the report, this would end its <script> or <style> element early.
    closing = "</script" if name.endswith(".js") else "</style"
    if closing in text.lower():
        raise ValueError(f"static/{name} contains {closing!r}; it cannot be inlined")
    return text


@functools.cache
def assets_version() -> str:
    """A digest of every static file: their URLs change whenever one of them does."""
    h = hashlib.sha256()
    for name in ASSETS:
        h.update(asset(name).encode("utf-8"))
    return h.hexdigest()[:12]


def shared_names() -> dict[str, list[str]]:
    """The names the script shares with Python, from the modules that define them."""
    from hpo.dashboard._analysis import EVALUATORS
    from hpo.dashboard._views import STUDY_PANELS
    from hpo.results._summary import STATES

    # A comparison's panels need no entry: its page config lists the ones it shows.
    return {"study_panels": list(STUDY_PANELS), "evaluators": list(EVALUATORS),
            "states": list(STATES)}


def page(title: str, config: dict[str, Any], static_url: str | None,
         plotly_inline: str | None = None, inline_is_partial: bool = False) -> str:
    """A complete HTML page running the dashboard script with ``config`` as ``window.HPO``.

    Args:
        title: the document title (escaped here).
        config: JSON-able page settings and, for static reports, the data itself.
        static_url: URL prefix under which the server serves :data:`ASSETS` and
            ``plotly.min.js``; None inlines them all (self-contained report).
        plotly_inline: plotly.js source to embed; required when ``static_url`` is None.
        inline_is_partial: ``plotly_inline`` is the cartesian bundle (see _plotlyjs), so
            the page's figures must need no other trace type.

    Raises:
        ValueError: neither ``static_url`` nor ``plotly_inline`` given.
    """
    from hpo.dashboard import _plotlyjs
    from hpo.dashboard._figures import template_json

    if static_url is None and plotly_inline is None:
        raise ValueError("a page needs static_url or plotly_inline")
    partial = inline_is_partial if static_url is None else _plotlyjs.cartesian() is not None
    # The trace types the first plotly.js can draw, and where the full one is for others.
    plotly = {"traces": list(_plotlyjs.CARTESIAN_TRACES),
              "full": None if static_url is None else f"{static_url}plotly.min.js"} \
        if partial else {}
    # One copy of the figures' plotly template for every plot on the page.
    config = {"template": template_json(), "names": shared_names(), "plotly": plotly,
              **config}
    # "</" inside JSON would end the script element early; "<\\/" means the same to JSON.
    cfg = json.dumps(config).replace("</", "<\\/")
    if static_url is not None:
        v = assets_version()
        src = {n: html.escape(f"{static_url}{n}?v={v}") for n in ASSETS}
        styles = "".join(f'<link rel="stylesheet" href="{src[n]}">' for n in STYLES)
        scripts = "".join(f'<script src="{src[n]}"></script>' for n in SCRIPTS)
        # async: the page script lays the page out and asks for its data while plotly.js
        # still loads and compiles; it waits for plotly.js only to draw.
        bundle = _plotlyjs.CARTESIAN_FILE if partial else "plotly.min.js"
        plotly_src = html.escape(f"{static_url}{bundle}")
        plotly_tag = f'<script id="plotly-js" src="{plotly_src}" async></script>'
    else:
        styles = "".join(f"<style>{asset(n)}</style>" for n in STYLES)
        scripts = "".join(f"<script>{asset(n)}</script>" for n in SCRIPTS)
        plotly_tag = f"<script>{plotly_inline}</script>"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"{styles}{plotly_tag}</head><body>"
            f'<header><a href="{html.escape(config.get("home", "/"))}">hpo dashboard</a>'
            f'<span class="crumb" id="crumb"></span><span class="live" id="live"></span></header>'
            f'<main id="app"><p class="muted">Loading…</p></main>'
            f"<script>window.HPO={cfg};</script>{scripts}</body></html>")
