"""One render smoke test per figure: it builds, has marks, and serialises for plotly.js."""

from __future__ import annotations

import json

import pytest

from hpo.dashboard import _analysis, _compare, _extract, _figures, _timeline

NOW = 4_000_000_000.0


def _check(fig, min_traces: int = 1) -> dict:
    out = json.loads(_figures.to_json(fig))
    assert len(out["data"]) >= min_traces
    assert out["layout"]["title"]["text"]
    return out


@pytest.fixture(scope="module")
def snap(store):
    return store.snapshot("bert-sst2")


def test_history_by_number_and_time(snap):
    h = _extract.history(snap)
    for by in ("number", "time"):
        out = _check(_figures.history_figure(h, by), 2)
        names = [t["name"] for t in out["data"]]
        # Every finished trial with a value: 8 complete, 14 pruned and the failure.
        assert names == ["pruned at the value reached (14)", "fail at the value reached (1)",
                         "complete (8)", "best so far (complete trials)"]
        assert "23 finished trials" in out["layout"]["title"]["text"]


def test_curves_mark_pruned_and_failed(store):
    out = _check(_figures.curves_figure(_extract.curves(
        store.snapshot("bert-sst2", metrics=True), "train_loss")), 3)
    names = [t["name"] for t in out["data"]]
    assert "pruned (14)" in names and "stopped" in names and "failed" in names
    marks = next(t for t in out["data"] if t["name"] == "stopped")
    assert all("asha" in text for text in marks["text"])


def test_curves_summarise_many_marks(snap, monkeypatch):
    monkeypatch.setattr(_figures, "MAX_MARKS", 3)
    out = _check(_figures.curves_figure(_extract.curves(snap)))
    marks = next(t for t in out["data"] if t["name"] == "stopped")
    assert len(marks["text"]) == 2  # pruned at step 2 or at step 4
    assert "stopped by asha" in marks["text"][0]


def test_curves_bundle_many_lines_into_one_path(snap, monkeypatch):
    # Past MAX_LINES curves of one state, they are one SVG path (a shape) with a legend
    # entry; every curve is still in it, one "M" per curve.
    monkeypatch.setattr(_figures, "MAX_LINES", 3)
    c = _extract.curves(snap)
    out = _check(_figures.curves_figure(c))
    shapes = {s["name"]: s for s in out["layout"]["shapes"]}
    pruned = [cv for cv in c.curves if cv.state == "PRUNED"]
    bundle = shapes[f"pruned ({len(pruned)})"]
    assert bundle["type"] == "path" and bundle["legendgroup"] == "PRUNED"
    assert bundle["path"].count("M") == len(pruned)
    first = pruned[0]
    assert bundle["path"].startswith(f"M{first.steps[0]:g},{first.values[0]:.5g}L")
    legend = next(t for t in out["data"] if t["name"] == f"pruned ({len(pruned)})")
    assert legend["legendgroup"] == "PRUNED" and legend["x"] == [None]  # the shape's entry
    assert "stopped" in [t["name"] for t in out["data"]]  # end marks stay


def test_curves_keep_traces_below_the_limit(snap):
    out = _check(_figures.curves_figure(_extract.curves(snap)))
    assert not out["layout"].get("shapes")


def test_parallel_lines_and_interactive(snap):
    d = _extract.param_data(snap)
    out = _check(_figures.parallel_figure(d), 1)
    assert out["layout"]["xaxis"]["ticktext"] == ["accuracy", "dropout", "log10 learning_rate",
                                                  "optimizer"]
    out = _check(_figures.parallel_figure(d, interactive=True))
    assert out["data"][0]["type"] == "parcoords" and len(out["data"][0]["dimensions"]) == 4


def test_slice(snap):
    out = _check(_figures.slice_figure(_extract.param_data(snap)), 3)
    assert out["layout"]["xaxis2"]["type"] == "log"


def test_contour(snap):
    c = _analysis.contour(_extract.param_data(snap), "learning_rate", "dropout")
    out = _check(_figures.contour_figure(c), 2)
    assert out["data"][0]["type"] == "contour"


def test_pareto(store):
    out = _check(_figures.pareto_figure(_analysis.pareto(store.snapshot("multi-obj"))), 2)
    assert out["data"][1]["name"] == "Pareto front"


def test_timeline(snap):
    out = _check(_figures.timeline_figure(_timeline.timeline(snap, NOW)), 3)
    assert out["layout"]["yaxis"]["ticktext"][0] == "node0:100"


def test_timeline_bundles_many_bars_into_one_path(snap, monkeypatch):
    import datetime as dt

    monkeypatch.setattr(_figures, "MAX_LINES", 3)
    t = _timeline.timeline(snap, NOW)
    out = _check(_figures.timeline_figure(t), 1)
    pruned = [b for b in t.bars if b.state == "PRUNED"]
    bundle = {s["name"]: s for s in out["layout"]["shapes"]}[f"pruned ({len(pruned)})"]
    assert bundle["type"] == "path" and bundle["path"].count("M") == len(pruned)
    first = pruned[0]
    start = dt.datetime.fromtimestamp(first.start, dt.timezone.utc)
    lane = list(t.lanes).index(first.lane)
    assert bundle["path"].startswith(f"M{start:%Y-%m-%d_%H:%M:%S}.{start.microsecond // 1000:03d},"
                                     f"{lane}L")
    legend = next(tr for tr in out["data"] if tr.get("name") == f"pruned ({len(pruned)})")
    assert legend["x"] == [None] and legend["legendgroup"] == bundle["legendgroup"] == "PRUNED"


def test_importance_single_and_side_by_side(store, snap):
    imps = [_analysis.importance(snap), _analysis.importance(store.snapshot("roberta-sst2"))]
    _check(_figures.importance_figure(imps[:1]))
    out = _check(_figures.importance_figure(imps, ["bert-sst2", "roberta-sst2"]), 2)
    assert out["layout"]["barmode"] == "group"


def test_progress_against_time_and_compute(store):
    ps = [_compare.progress(store.snapshot(n), NOW) for n in ("bert-sst2", "roberta-sst2")]
    # These studies last 45-55 minutes: their time axes are in minutes.
    for x in ("elapsed", "compute"):
        out = _check(_figures.progress_figure(ps, x), 2)
        assert out["layout"]["xaxis"]["title"]["text"].endswith("(min)")
    out = _check(_figures.progress_figure(ps, "trials"), 2)
    assert out["layout"]["xaxis"]["title"]["text"] == "trials finished (any state)"


def test_empty_study_figures_explain_themselves(store):
    snap = store.snapshot("empty")
    for fig in (_figures.history_figure(_extract.history(snap)),
                _figures.curves_figure(_extract.curves(snap)),
                _figures.parallel_figure(_extract.param_data(snap)),
                _figures.timeline_figure(_timeline.timeline(snap, NOW)),
                _figures.importance_figure([_analysis.importance(snap)])):
        out = json.loads(_figures.to_json(fig))
        assert out["layout"]["annotations"][0]["text"]


def test_history_bundles_thousands_of_pruned_trials(snap, monkeypatch):
    # Past MAX_MARKS early-ended trials of one state are one path of dashes and runs.
    monkeypatch.setattr(_figures, "MAX_MARKS", 3)
    h = _extract.history(snap)
    for by in ("number", "time"):
        out = _check(_figures.history_figure(h, by), 2)
        paths = [s for s in out["layout"].get("shapes", []) if s["type"] == "path"]
        # Marks that would overlap on screen merge: at most one per trial.
        assert len(paths) == 1 and 1 <= paths[0]["path"].count("M") <= 14
        names = [t["name"] for t in out["data"]]
        assert "pruned at the value reached (14)" in names  # its legend entry


def test_value_axis_does_not_magnify_tiny_spreads():
    # Two values 0.3 % apart: the axis spans 2 % of their size, not just the two points.
    lo, hi = _figures.value_range([0.975, 0.978])
    assert lo < 0.975 and hi > 0.978 and hi - lo >= 0.02 * 0.978
    # A wide spread is kept, padded a little on both sides.
    lo, hi = _figures.value_range([0.2, 0.9])
    assert 0.15 < lo < 0.2 and 0.9 < hi < 0.95


def test_dash_bundle_covers_every_trial():
    # Every trial lies on a drawn dash or run: its cell's centre is on one of the segments.
    import re

    import numpy as np
    import plotly.graph_objects as go

    rng = np.random.default_rng(0)
    xs, ys = np.arange(5000, dtype=float), rng.uniform(0.2, 0.9, 5000)
    fig = go.Figure()
    _figures._dash_bundle(fig, xs, list(ys), "PRUNED", "pruned (5000)")
    path = fig.layout.shapes[0].path
    segs = re.findall(r"M([-\d.e]+),([-\d.e]+)([HV])([-\d.e]+)", path)
    assert len(segs) < 5000
    cw, lh = np.ptp(xs) / _figures.COLUMNS, np.ptp(ys) / _figures.LEVELS
    cols = {}
    for x, y, kind, end in segs:
        x, y, end = float(x), float(y), float(end)
        lo, hi = (y, end) if kind == "V" else (y, y)
        cols.setdefault(round(x / cw - 0.5), []).append((lo - lh, hi + lh))
    for x, y in zip(xs, ys, strict=True):
        c = min(int(x / cw), _figures.COLUMNS - 1)
        assert any(lo <= y <= hi for lo, hi in cols.get(c, [])), (x, y)


def test_timeline_reads_the_pages_zone(snap, monkeypatch):
    import datetime as dt

    import numpy as np

    from hpo.dashboard._zone import zone

    kolkata = zone("Asia/Kolkata")  # UTC+05:30 all year
    t = _timeline.timeline(snap, NOW, zone=kolkata)
    utc, local = (_check(_figures.timeline_figure(t, z), 3) for z in (zone(None), kolkata))
    assert utc["layout"]["xaxis2"]["title"]["text"] == "time (UTC)"
    assert local["layout"]["xaxis2"]["title"]["text"] == "time (Asia/Kolkata, UTC+05:30)"

    def xs(z, name: str) -> np.ndarray:
        trace = next(tr for tr in _figures.timeline_figure(t, z).data if tr.name == name)
        return np.asarray(trace.x, dtype=float)

    name = next(tr["name"] for tr in utc["data"] if tr.get("name", "").startswith("complete"))
    diff = xs(kolkata, name) - xs(zone(None), name)
    assert np.isfinite(diff).sum() >= 2
    assert np.allclose(diff[np.isfinite(diff)], 5.5 * 3600 * 1000)
    # Bundled bars shift too: the path's first stamp is the bar's start on Kolkata's clock.
    monkeypatch.setattr(_figures, "MAX_LINES", 3)
    out = _check(_figures.timeline_figure(t, kolkata), 1)
    pruned = [b for b in t.bars if b.state == "PRUNED"]
    bundle = {s["name"]: s for s in out["layout"]["shapes"]}[f"pruned ({len(pruned)})"]
    start = dt.datetime.fromtimestamp(pruned[0].start, dt.timezone.utc) + dt.timedelta(hours=5.5)
    assert bundle["path"].startswith(f"M{start:%Y-%m-%d_%H:%M:%S}")
