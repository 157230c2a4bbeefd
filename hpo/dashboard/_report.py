"""``hpo report``: one study as a single self-contained HTML file that works offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hpo.dashboard._views import STUDY_PANELS, Views
from hpo.results import Store


def render_report(store: Store, study: str) -> str:
    """The HTML of a static report of ``study``: data, plotly.js, script and style inline.

    Raises:
        StoreError: no study has that name.
    """
    from hpo.dashboard import _plotlyjs
    from hpo.dashboard._pages import page

    views = Views(store)
    data = json.loads(views.study(study, ["table", *STUDY_PANELS], {}))
    # Without a server the metric selector can only switch between curves made now.
    for metric in data["metrics"][1:]:
        extra = json.loads(views.study(study, ["curves"], {"metric": metric}))
        data["figures"][f"curves:{metric}"] = extra["figures"]["curves"]
    cfg = {"page": "study", "study": study, "static": True, "data": data, "root": "#",
           "home": "#", "refresh_s": 0}
    # The cartesian bundle is a third of the full one: a smaller file that opens sooner.
    partial = _plotlyjs.cartesian()
    small = partial is not None and not _plotlyjs.needs_full(data["figures"].values())
    return page(f"{study} · hpo report", cfg, None,
                plotly_inline=partial if small else _plotlyjs.full(), inline_is_partial=small)


def write_report(url: str, study: str, out: str | Path) -> Path:
    """Write the report of ``study`` read from storage ``url`` to ``out``; returns the path."""
    store = Store(url)
    try:
        text = render_report(store, study)
    finally:
        store.close()
    path = Path(out)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    # A reader (or a browser reloading it) never sees a half-written report.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
