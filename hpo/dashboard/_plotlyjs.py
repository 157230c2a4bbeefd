"""Which plotly.js a page loads: plotly.js's own "cartesian" bundle when it can draw the page.

plotly's Python package ships the full plotly.js (4.8 MB: 3-D scenes, maps, WebGL traces).
In a browser without a code cache, compiling and running it kept the page's main thread
busy for 1.3-1.8 s on this project's 2-core machine before the first plot could be drawn,
longer than the server took to answer the page's first request. The dashboard draws
scatter, bar and contour traces; plotly.js publishes a partial bundle with those
(``plotly.js-cartesian-dist-min`` on npm, 1.5 MB, vendored as ``static/plotly-cartesian.min.js``
by ``scripts/vendor_plotly_cartesian.sh``), which took 0.4-0.7 s. Pages start with it and
load the full bundle only for a figure with a trace type it lacks (the WebGL parallel
coordinates, ``style=interactive``).

The partial bundle is used only when its version is the installed plotly's plotly.js, so
the figures the Python side builds mean the same to both; otherwise pages load the full
bundle, as before, and the server logs why once.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

__all__ = ["CARTESIAN_FILE", "CARTESIAN_TRACES", "cartesian", "full", "needs_full", "version_of"]

_log = logging.getLogger("hpo.dashboard")

CARTESIAN_FILE = "plotly-cartesian.min.js"
#: The trace modules of the cartesian bundle (its README's list); plotly.js's default
#: trace type is scatter.
CARTESIAN_TRACES = ("bar", "box", "contour", "heatmap", "histogram", "histogram2d",
                    "histogram2dcontour", "image", "pie", "scatter", "scatterternary", "violin")
_VERSION = re.compile(r"plotly\.js (?:\([^)]*\) )?v(\d+\.\d+\.\d+)")


def version_of(source: str) -> str | None:
    """The plotly.js version in a bundle's license header, None without one."""
    found = _VERSION.search(source[:400])
    return found.group(1) if found else None


@functools.cache
def full() -> str:
    """The full plotly.js of the installed plotly package (works offline)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@functools.cache
def cartesian() -> str | None:
    """The vendored cartesian bundle, or None when it is not the installed plotly's version."""
    try:
        text = (resources.files("hpo.dashboard") / "static" / CARTESIAN_FILE).read_text(
            encoding="utf-8")
    except FileNotFoundError:
        _log.warning("static/%s is missing: pages load the full plotly.js", CARTESIAN_FILE)
        return None
    ours, installed = version_of(text), version_of(full())
    if ours is None or ours != installed:
        _log.warning("static/%s is plotly.js %s but plotly ships plotly.js %s: pages load "
                     "the full bundle (run scripts/vendor_plotly_cartesian.sh)",
                     CARTESIAN_FILE, ours, installed)
        return None
    if "</script" in text.lower():  # inlined into a report, it would end its element early
        _log.warning("static/%s contains '</script': pages load the full plotly.js",
                     CARTESIAN_FILE)
        return None
    return text


def needs_full(figures: Iterable[Any]) -> bool:
    """Whether any of these plotly figure dicts has a trace the cartesian bundle lacks."""
    return any((trace.get("type") or "scatter") not in CARTESIAN_TRACES
               for fig in figures if isinstance(fig, dict)
               for trace in fig.get("data") or () if isinstance(trace, dict))
