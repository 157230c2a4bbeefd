"""HTML shell, style and browser script shared by the server pages and the static report.

Pages are one template filled with a JSON config; the script fetches the page's
JSON, draws it with plotly.js and, when live, polls a cheap revision endpoint and
redraws only when the study changed. Study names reach the DOM as text, never as
HTML, and the JSON config is escaped so it cannot close its script tag.
"""

from __future__ import annotations

import html
import json
from typing import Any

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2433;
 background:#f4f6f9}
header{background:#1d2433;color:#fff;padding:10px 24px;display:flex;gap:18px;align-items:center}
header a{color:#cfe0ff;text-decoration:none;font-weight:600}
header .crumb{color:#fff;font-weight:600}
header .live{margin-left:auto;font-size:12px;color:#9fb3d1}
main{padding:16px 24px;max-width:1700px;margin:0 auto}
h1{font-size:20px;margin:4px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:14px;min-height:58px}
.card{background:#fff;border-radius:6px;padding:8px 14px;box-shadow:0 1px 2px #0002;
 min-width:110px}
.card .k{font-size:11px;color:#667;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:17px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px}
.panel{background:#fff;border-radius:6px;box-shadow:0 1px 2px #0002;padding:6px;min-width:0}
.panel.wide{grid-column:1/-1}
.controls{display:flex;gap:10px;align-items:center;padding:4px 8px;font-size:13px;color:#445}
select,button{font:inherit;padding:3px 6px;border:1px solid #bbc;border-radius:4px;background:#fff}
button{cursor:pointer}button:disabled{cursor:default;opacity:.5}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7ee;text-align:left;white-space:nowrap}
th{background:#eef1f6;position:sticky;top:0;cursor:pointer;user-select:none}
th.nosort{cursor:default}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.note{white-space:normal;color:#555;max-width:420px}
tr:hover td{background:#f7f9fc}
.tablewrap{max-height:520px;overflow:auto;border-radius:6px;box-shadow:0 1px 2px #0002}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;
 color:#fff}
.s-COMPLETE,.s-finished{background:#1f77b4}.s-PRUNED{background:#ff7f0e}.s-FAIL{background:#d62728}
.s-RUNNING,.s-running{background:#2ca02c}.s-WAITING,.s-empty{background:#8a8fa0}
tr.differs td{background:#fff4d6}tr.differs td:first-child{border-left:3px solid #e3a008}
.muted{color:#778}.pager{display:flex;gap:8px;align-items:center;padding:6px 0}
.error{background:#fde8e8;color:#8a1c1c;padding:8px 12px;border-radius:6px;margin:8px 0}
.toolbar{display:flex;gap:10px;align-items:center;margin:6px 0 10px}
"""


def page(title: str, config: dict[str, Any], script: str, plotly_src: str | None,
         plotly_inline: str | None = None) -> str:
    """A complete HTML page running ``script`` with ``config`` as ``window.HPO``.

    Args:
        title: the document title (escaped here).
        config: JSON-able page settings and, for static reports, the data itself.
        script: the browser script (:data:`APP_JS`).
        plotly_src: URL of plotly.js, or None when ``plotly_inline`` is given.
        plotly_inline: plotly.js source to embed (self-contained report).
    """
    from hpo.dashboard._figures import template_json

    # One copy of the figures' plotly template for every plot on the page.
    config = {"template": template_json(), **config}
    # "</" inside JSON would end the script element early; "<\\/" means the same to JSON.
    cfg = json.dumps(config).replace("</", "<\\/")
    # async: the page script lays the page out and asks for its data while plotly.js
    # (3.5 MB) still loads and compiles; it waits for plotly.js only to draw.
    plotly_tag = (f'<script id="plotly-js" src="{html.escape(plotly_src)}" async></script>'
                  if plotly_src
                  else f"<script>{plotly_inline}</script>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"<style>{CSS}</style>{plotly_tag}</head><body>"
            f'<header><a href="{html.escape(config.get("home", "/"))}">hpo dashboard</a>'
            f'<span class="crumb" id="crumb"></span><span class="live" id="live"></span></header>'
            f'<main id="app"><p class="muted">Loading…</p></main>'
            f'<script>window.HPO={cfg};</script><script>{script}</script></body></html>')
