"""JSON payloads of the pages: extraction + rendering per panel, cached per study revision.

The HTTP layer (``_server``) only routes; the static report (``_report``) calls the
same functions, so what the server shows and what a report file embeds agree.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from typing import Any

from hpo import results
from hpo.dashboard import _analysis, _compare, _extract, _figures, _timeline, _zone
from hpo.dashboard._config import Filters
from hpo.results import Store, StudySnapshot
from hpo.shipping import keys as shipping_keys

# The panels of a study page, in page order (the page takes this list from the server).
STUDY_PANELS = ("history", "history_time", "curves", "timeline", "parallel", "slice",
                "importance", "contour", "pareto")


# The request options each panel reads: its cache entry is keyed by these alone, so a
# history drawn for one evaluator or time zone serves every other one.
PANEL_OPTIONS: dict[str, tuple[str, ...]] = {
    "curves": ("metric",), "parallel": ("style",), "importance": ("evaluator",),
    "contour": ("x", "y"), "timeline": ("tz",)}


def _num(x: Any) -> Any:
    return _figures.finite_or_none(x)


def summary_dict(s: results.StudySummary) -> dict[str, Any]:
    """JSON-ready :class:`~hpo.results.StudySummary`."""
    d = asdict(s)
    d["best"] = _num(s.best)
    return d


def table_dict(t: _extract.TrialTable) -> dict[str, Any]:
    """JSON-ready trial table (NaN and infinities as null)."""
    return {"columns": list(t.columns), "params": list(t.param_names),
            "rows": [[_num(v) for v in row] for row in t.rows]}


def study_figure(snap: StudySnapshot, panel: str, opts: dict[str, str]) -> Any:
    """The plotly figure of one study panel (None: the panel does not apply to this study).

    Raises:
        KeyError: unknown panel, metric or parameter (the message quotes it).
    """
    if panel == "history":
        return _figures.history_figure(_extract.history(snap), "number")
    if panel == "history_time":
        return _figures.history_figure(_extract.history(snap), "time")
    if panel == "curves":
        return _figures.curves_figure(_extract.curves(snap, opts.get("metric")
                                                      or _extract.OBJECTIVE))
    if panel == "parallel":
        return _figures.parallel_figure(_extract.param_data(snap),
                                        interactive=opts.get("style") == "interactive")
    if panel == "slice":
        data = _extract.param_data(snap)
        few = _analysis.too_few("slice", len(data.numbers))
        if few is not None and data.axes:
            return _figures.empty_figure("Slice plots", few)
        return _figures.slice_figure(data)
    if panel == "importance":
        imp = _analysis.importance(snap, opts.get("evaluator") or _analysis.DEFAULT_EVALUATOR)
        return _figures.importance_figure([imp])
    if panel == "contour":
        data = _extract.param_data(snap)
        names = [a.name for a in data.axes]
        if len(names) < 2:
            return _figures.empty_figure("Contour", "Needs two parameters.")
        few = _analysis.too_few("contour", len(data.numbers))
        if few is not None:
            return _figures.empty_figure("Contour", few)
        x, y = opts.get("x") or names[0], opts.get("y") or names[1]
        return _figures.contour_figure(_analysis.contour(data, x, y))
    if panel == "pareto":
        p = _analysis.pareto(snap)
        return None if p is None else _figures.pareto_figure(p)
    if panel == "timeline":
        zone = page_zone(opts.get("tz"))
        return _figures.timeline_figure(_timeline.timeline(snap, zone=zone), zone)
    raise KeyError(f"unknown panel {panel!r}; choose from {list(STUDY_PANELS)}")


def page_zone(name: str | None) -> _zone.Zone:
    """The browser's zone, or UTC when this machine does not know it (no tz database):
    the axis then names UTC, so the page stays truthful rather than failing."""
    try:
        return _zone.zone(name)
    except ValueError:
        return _zone.UTC


class Views:
    """Builds page payloads from a :class:`Store`, caching figure JSON per study revision.

    Args:
        store: the storage reader.
        cache_size: how many rendered panels to keep.
    """

    def __init__(self, store: Store, cache_size: int = 256) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self._busy: dict[tuple[Any, ...], threading.Event] = {}

    def _cached(self, key: tuple[Any, ...], make: Any) -> str:
        # One computation per key: a request for a panel that another request is
        # computing (a second tab, a reload) waits for that result.
        while True:
            with self._lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key]
                busy = self._busy.get(key)
                if busy is None:
                    busy = self._busy[key] = threading.Event()
                    break
            busy.wait()
        try:
            value = make()
            with self._lock:
                self._cache[key] = value
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._busy[key]
            busy.set()

    def studies(self) -> dict[str, Any]:
        """Summaries of every study in the store."""
        now = time.time()
        rows = [summary_dict(results.summarize(self.store.snapshot(n), now))
                for n in self.store.study_names()]
        return {"studies": rows, "storage": self.store.url}

    def revision(self, names: list[str]) -> list[int]:
        """Current revision of each study (changes whenever its trials do)."""
        return [self.store.snapshot(n).revision for n in names]

    def study(self, name: str, panels: list[str], opts: dict[str, str]) -> str:
        """JSON of the study page: summary, trial table and the requested panels' figures."""
        metric = opts.get("metric") or _extract.OBJECTIVE
        snap = self.store.snapshot(name, metrics="curves" in panels
                                   and metric != _extract.OBJECTIVE)
        if _extract.needs_metric_scan(snap) and not snap.has_metrics:
            # Written without the names attribute: the names come from the histories.
            snap = self.store.snapshot(name, metrics=True)
        head = {
            "name": name, "revision": snap.revision,
            "summary": summary_dict(results.summarize(snap)),
            "metrics": _extract.metric_names(snap),
            "params": _extract.param_names(snap),
            "multi": len(snap.meta.directions) > 1,
            # What `hpo finalize` and `hpo export` recorded (docs/shipping.md): the
            # finalists with their intervals, and which config was exported.
            "finalize": snap.meta.user_attrs.get(shipping_keys.FINALIZE),
            "export": snap.meta.user_attrs.get(shipping_keys.EXPORT),
        }
        parts = [json.dumps(head)[:-1]]
        if "table" in panels:
            table = self._cached((name, snap.revision, "table"),
                                 lambda: json.dumps(table_dict(_extract.trial_table(snap))))
            parts.append(f', "table": {table}')
        figs = []
        for panel in panels:
            if panel == "table":
                continue
            key_opts = tuple((k, opts[k]) for k in PANEL_OPTIONS.get(panel, ()) if k in opts)
            fig_json = self._cached((name, snap.revision, panel, key_opts),
                                    lambda p=panel: _fig_json(study_figure(snap, p, opts)))
            figs.append(f"{json.dumps(panel)}: {fig_json}")
        parts.append(', "figures": {' + ", ".join(figs) + "}}")
        return "".join(parts)

    def compare(self, names: list[str], panels: list[str], filters: Filters | None = None,
                evaluator: str = _analysis.DEFAULT_EVALUATOR,
                metric: str = _extract.OBJECTIVE) -> str:
        """JSON of a comparison of ``names``: summaries, progress, learning curves of
        ``metric``, best configs, importance."""
        filters = filters or Filters()
        # A reported metric's curves need the per-step histories (read once, then kept).
        with_metrics = "curves" in panels and metric != _extract.OBJECTIVE
        snaps = [self.store.snapshot(n, metrics=with_metrics) for n in names]
        if "curves" in panels:  # written without the names attribute: scan the histories
            snaps = [self.store.snapshot(s.meta.name, metrics=True)
                     if _extract.needs_metric_scan(s) and not s.has_metrics else s for s in snaps]
        snaps = [filters.apply(s) for s in snaps]
        revs = tuple(s.revision for s in snaps)
        key = (tuple(names), revs, tuple(panels), repr(filters), evaluator, metric)
        return self._cached(key, lambda: _compare_json(snaps, panels, evaluator, metric))


def _importance_or_note(snap: StudySnapshot, evaluator: str) -> _analysis.Importance:
    """A study's importance; an unavailable evaluator becomes the note its bars show."""
    try:
        return _analysis.importance(snap, evaluator)
    except _analysis.EvaluatorUnavailable as exc:
        return _analysis.Importance(evaluator, 0, (), str(exc))


def _fig_json(fig: Any) -> str:
    return "null" if fig is None else _figures.to_json(fig)


def _compare_json(snaps: list[StudySnapshot], panels: list[str], evaluator: str,
                  metric: str = _extract.OBJECTIVE) -> str:
    names = [s.meta.name for s in snaps]
    out: dict[str, Any] = {"studies": names, "revision": [s.revision for s in snaps]}
    out["summaries"] = [summary_dict(results.summarize(s)) for s in snaps]
    figs: dict[str, str] = {}
    axes = {"best_vs_time": "elapsed", "best_vs_compute": "compute", "best_vs_trials": "trials"}
    if any(p in panels for p in axes):
        prog = [_compare.progress(s) for s in snaps]
        for panel, x in axes.items():
            if panel in panels:
                figs[panel] = _figures.to_json(_figures.progress_figure(prog, x))
    if "curves" in panels:
        bands = [_compare.step_bands(s, metric) for s in snaps
                 if metric in _extract.metric_names(s)]
        figs["curves"] = _figures.to_json(_figures.step_bands_figure(bands, metric))
        out["metrics"] = sorted({m for s in snaps for m in _extract.metric_names(s)},
                                key=lambda m: (m != _extract.OBJECTIVE, m))
    if "importance" in panels:
        imps = [_importance_or_note(s, evaluator) for s in snaps]
        figs["importance"] = _figures.to_json(_figures.importance_figure(imps, names))
    if "best_configs" in panels:
        bc = _compare.best_configs(snaps)
        out["best_configs"] = {"studies": list(bc.studies), "rows": [
            {"label": r.label, "values": [_num(v) for v in r.values], "differs": r.differs,
             "kind": r.kind} for r in bc.rows]}
    body = json.dumps(out)[:-1]
    return body + ', "figures": {' + ", ".join(
        f"{json.dumps(k)}: {v}" for k, v in figs.items()) + "}}"
