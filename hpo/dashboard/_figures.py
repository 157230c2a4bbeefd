"""Plotly figures rendered from the info objects of ``_extract``, ``_analysis`` and friends.

Large studies are drawn with a handful of SVG traces (one per trial state, trials
separated by NaN gaps) rather than one trace per trial: 10,000 traces take plotly.js
seconds to lay out, a few long ones take milliseconds. SVG rather than WebGL because
each WebGL plot costs ~0.5 s (parallel coordinates ~1.5 s) to start in a browser
without a GPU, while a 60,000-point SVG line draws in ~0.2 s; WebGL parallel
coordinates (with brushing) stay one click away. Times go to plotly as milliseconds
since the epoch on date axes, so arrays stay numeric and compact.
"""

from __future__ import annotations

import functools
import json
import math
from itertools import chain
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hpo.dashboard._analysis import ADVISED_TRIALS, Contour, Importance, Pareto, based_on
from hpo.dashboard._compare import Progress, StepBand
from hpo.dashboard._extract import Curves, History, ParamAxis, ParamData
from hpo.dashboard._timeline import Timeline
from hpo.dashboard._zone import UTC, Zone

STATE_COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728",
                "RUNNING": "#2ca02c", "WAITING": "#9467bd"}
STUDY_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22")
HEIGHT = 380
_NAN = float("nan")


def _layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    # No template per figure: the page applies one shared copy of TEMPLATE (a named
    # template costs ~17 ms and ~6 KB per figure, for every panel and every refresh).
    fig.layout.template = None
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15}},
                      height=kw.pop("height", HEIGHT),
                      margin=kw.pop("margin", {"l": 60, "r": 20, "t": 50, "b": 50}),
                      legend=kw.pop("legend", {"orientation": "h", "y": -0.18, "x": 0}), **kw)
    return fig


def _ms(seconds: Any) -> np.ndarray:
    return np.asarray(seconds, dtype=float) * 1000.0


def _notes(notes: list[str], limit: int = 300) -> list[str]:
    # Thousands of identical sentences would dominate the payload: past ``limit``
    # marks keep the decision (who, where, score, cutoff) and drop the prose.
    if len(notes) <= limit:
        return notes
    return [n.split(": ", 1)[0] if n.startswith("stopped") else n for n in notes]


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to draw."""
    fig = go.Figure()
    if "<br>" not in message:
        message = _wrap(message)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper",
                       yref="paper", font={"size": 14, "color": "#666"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=220)


def _wrap(text: str, width: int = 90) -> str:
    """``text`` broken into lines of about ``width`` characters with ``<br>`` (plotly
    annotations do not wrap)."""
    import textwrap

    return "<br>".join(textwrap.wrap(text, width)) or text


def history_figure(h: History, by: str = "number") -> go.Figure:
    """Every finished trial and the best so far, against trial number (``by="number"``) or
    the time since the study's first trial when it ended (``"time"``; s, min or h chosen
    from the data). Complete trials are dots; pruned and failed ones are marked at the
    value they reached, each state its own legend entry (a click hides or shows it)."""
    n_done = len(h.values) + len(h.early)
    title = f"Optimisation history: {h.metric} ({h.direction}) by " + (
        "trial number" if by == "number" else "time since the first trial")
    if not n_done:
        return empty_figure(title, "No finished trial with a value yet.")
    fig = go.Figure()
    t0 = h.t0 or 0.0
    ends = [*h.times, *(p.time for p in h.early if p.time is not None)]
    unit, per = time_unit(max(ends, default=t0) - t0)

    def at(times: Any) -> np.ndarray:  # elapsed time in the chosen unit
        return (np.asarray(times, dtype=float) - t0) / per

    if by == "number":
        fig.update_xaxes(title_text="trial number")
    else:
        # Elapsed time rather than dates: numbers keep thousands of marks one compact
        # path, and a search's progress reads in its own units (the timeline has clock times).
        fig.update_xaxes(title_text=f"time the trial ended, since the study's first trial "
                                    f"({unit})", rangemode="tozero")
    for state, symbol in (("PRUNED", "x"), ("FAIL", "circle-x")):
        group = [p for p in h.early if p.state == state and (by == "number" or p.time)]
        if not group:
            continue
        name = f"{state.lower()} at the value reached ({len(group)})"
        x: Any = np.asarray([p.number for p in group], dtype=float) if by == "number" \
            else at([p.time for p in group])
        if len(group) > MAX_MARKS:
            _dash_bundle(fig, x, [p.value for p in group], state, name)
            continue
        fig.add_trace(go.Scatter(
            x=x, y=np.asarray([p.value for p in group], dtype=float), mode="markers",
            name=name, legendgroup=state,
            customdata=np.asarray([p.number for p in group], dtype=np.float32),
            text=_notes([f"step {p.step}: {p.note}" for p in group]),
            marker={"size": 7, "symbol": symbol, "color": STATE_COLORS[state], "opacity": 0.8},
            hovertemplate="trial %{customdata} " + state.lower()
                          + ": %{y:.4g}<br>%{text}<extra></extra>"))
    if h.values:
        if by == "number":
            x_pts: Any = np.asarray(h.numbers)
            y_pts, x_best, y_best = h.values, x_pts, h.best_by_number
        else:
            x_pts = x_best = at(h.times)
            y_pts, y_best = h.time_values, h.best_by_time
        fig.add_trace(go.Scatter(
            x=x_pts, y=np.asarray(y_pts, dtype=float), mode="markers",
            name=f"complete ({len(h.values)})", legendgroup="COMPLETE",
            marker={"size": 8, "opacity": 0.85, "color": STATE_COLORS["COMPLETE"]},
            hovertemplate="%{x:.4g}: %{y:.4g}<extra>complete</extra>"))
        fig.add_trace(go.Scatter(
            x=np.asarray(x_best), y=np.asarray(y_best, dtype=float), mode="lines",
            line={"shape": "hv", "color": "#d62728", "width": 2},
            name="best so far (complete trials)",
            hovertemplate="best %{y:.4g}<extra></extra>"))
    if by == "number":
        last = max([*h.numbers, *(p.number for p in h.early)])
        fig.update_xaxes(range=[-0.5, last + 0.5],  # every trial number in view
                         dtick=1 if last < 10 else None)
    fig.update_yaxes(title_text=h.metric, range=value_range([*h.values,
                                                            *(p.value for p in h.early)]))
    note = f" · {h.unplotted} without a value not shown" if h.unplotted else ""
    return _layout(fig, f"{title} · {n_done} finished trials{note}",
                   margin={"l": 60, "r": 20, "t": 50, "b": 90},
                   legend={"orientation": "h", "y": -0.24, "x": 0})


MIN_SPAN = 0.02  # of the values' magnitude: a smaller spread is not magnified to full height


def value_range(values: list[float]) -> list[float]:
    """A value axis for ``values``: their spread padded by 6 %, but never narrower than
    MIN_SPAN of their magnitude, so 0.975 against 0.978 reads as nearly equal, not as
    the bottom and the top of the plot."""
    lo, hi = min(values), max(values)
    span = max(hi - lo, MIN_SPAN * max(abs(lo), abs(hi)), 1e-12)
    mid, half = (lo + hi) / 2, span * 1.12 / 2
    return [mid - half, mid + half]


COLUMNS, LEVELS = 200, 100  # cells of about 3 x 3 pixels in a history panel (600 x 300)


def _dash_bundle(fig: go.Figure, xs: np.ndarray, values: list[float], state: str,
                 name: str) -> None:
    """Thousands of early-ended trials as one path shape with a legend entry that hides and
    shows it: as SVG markers, 9,000 points cost plotly.js about a second to draw; as one
    path of 9,000 dashes, still a few hundred milliseconds (plotly converts every
    coordinate). So the marks are merged where they would overlap on screen: the plot is
    cut into COLUMNS x LEVELS cells, and each column's occupied cells become vertical runs
    (``M x,y0 V y1``; a lone cell, a short dash). Every trial still lies on a drawn mark;
    hover is lost for these trials."""
    ys = np.asarray(values, dtype=float)
    x0, xspan = float(xs.min()), max(float(np.ptp(xs)), 1e-9)
    y0, yspan = float(ys.min()), max(float(np.ptp(ys)), 1e-9)
    col = np.minimum(((xs - x0) / xspan * COLUMNS).astype(int), COLUMNS - 1)
    lev = np.minimum(((ys - y0) / yspan * LEVELS).astype(int), LEVELS - 1)
    cells = np.unique(col * (LEVELS + 1) + lev)  # sorted by column, then level
    c, lv = cells // (LEVELS + 1), cells % (LEVELS + 1)
    # A new run starts at a new column or after a gap of a level or more.
    start = np.ones(len(cells), dtype=bool)
    start[1:] = (c[1:] != c[:-1]) | (lv[1:] > lv[:-1] + 1)
    first = np.flatnonzero(start)
    last = np.append(first[1:] - 1, len(cells) - 1)
    cx = x0 + (c[first] + 0.5) * xspan / COLUMNS
    lo = y0 + (lv[first] + 0.5) * yspan / LEVELS
    hi = y0 + (lv[last] + 0.5) * yspan / LEVELS
    dx = xspan * 0.002
    single = first == last
    dashes = np.column_stack([cx[single] - dx, lo[single], cx[single] + dx]).ravel()
    runs = np.column_stack([cx[~single], lo[~single], hi[~single]]).ravel()
    path = ("M%.5g,%.4gH%.5g" * int(single.sum())) % tuple(dashes.tolist()) \
        + ("M%.5g,%.4gV%.4g" * int((~single).sum())) % tuple(runs.tolist())
    fig.add_shape(type="path", path=path, xref="x", yref="y", layer="above",
                  line={"color": STATE_COLORS[state], "width": 2}, opacity=0.6, name=name,
                  showlegend=False, legendgroup=state)
    _legend_entry(fig, name, state, 2, 0.8)


def _date_stamp(t: float) -> str:
    """Epoch seconds (already shifted to the page's zone) as a plotly path coordinate on a
    date axis, which reads it as UTC (``_`` for the space)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d_%H:%M:%S.%f")[:-3]


def curves_figure(c: Curves) -> go.Figure:
    """Every trial's curve of one metric; pruned and failed trials end in a marked point."""
    title = f"Learning curves: {c.label}"
    if not c.curves:
        return empty_figure(title, f"No trial reported {c.label}.")
    fig = go.Figure()
    for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"):
        group = [cv for cv in c.curves if cv.state == state]
        if not group:
            continue
        n = sum(len(cv.steps) + 1 for cv in group)
        # float32 halves the payload; trial numbers and steps stay exact below 2**24.
        x, y, num = (np.empty(n, dtype=np.float32) for _ in range(3))
        i = 0
        for cv in group:
            k = len(cv.steps)
            x[i:i + k], y[i:i + k], num[i:i + k] = cv.steps, cv.values, cv.number
            x[i + k] = y[i + k] = num[i + k] = _NAN
            i += k + 1
        dim = len(group) > 200 and state in ("PRUNED", "FAIL")
        if len(group) > MAX_LINES:
            _curve_bundle(fig, group, state, dim)
        else:
            fig.add_trace(go.Scatter(
                x=x, y=y, customdata=num, mode="lines", name=f"{state.lower()} ({len(group)})",
                line={"color": STATE_COLORS[state], "width": 1.2},
                opacity=0.25 if dim else 0.7, legendgroup=state,
                hovertemplate="trial %{customdata}<br>step %{x}: %{y:.4g}<extra></extra>"))
        if state in ("PRUNED", "FAIL"):
            _end_marks(fig, group, state)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=c.label)
    return _layout(fig, title)


MAX_MARKS = 1000  # beyond this, per-trial end marks cost more to draw than they tell
# Beyond this many curves of one state, they are drawn as one SVG path (a layout shape in
# data coordinates): plotly.js spends ~0.1 ms per NaN-separated piece of a line trace, so
# 9,000 pruned curves cost a second as a trace and ~50 ms as a path. Every curve is still
# drawn; what is lost is per-curve hover, which thousands of overlapping lines defeat anyway
# (the end marks keep their hover summary of who stopped where).
MAX_LINES = 1000


def _curve_bundle(fig: go.Figure, group: list[Any], state: str, dim: bool) -> None:
    """Draw ``group``'s curves as one path shape with a legend entry.

    Above the traces, as the per-state traces were drawn in the order complete, pruned,
    failed: thousands of dim pruned curves over a few hundred complete ones.
    """
    # One %-format per curve (its template cached by length): a tenth of the time of an
    # f-string per point, for 60,000 points. The curves' values are finite (see curves()).
    parts = []
    for cv in group:
        n = len(cv.steps)
        if not n:
            continue
        flat = tuple(chain.from_iterable(zip(cv.steps, cv.values, strict=True)))
        parts.append(_path_template(n) % (flat if n > 1 else flat * 2))
    fig.add_shape(type="path", path="".join(parts), xref="x", yref="y", layer="above",
                  line={"color": STATE_COLORS[state], "width": 1.2},
                  opacity=0.25 if dim else 0.7, name=f"{state.lower()} ({len(group)})",
                  showlegend=False, legendgroup=state)
    _legend_entry(fig, f"{state.lower()} ({len(group)})", state, 1.2, 0.7)


@functools.cache
def _path_template(n: int) -> str:
    """``M%g,%.5gL%g,%.5g...``: a polyline of ``max(n, 2)`` points as one format string."""
    return "M%g,%.5g" + "L%g,%.5g" * (max(n, 2) - 1)


def _legend_entry(fig: go.Figure, name: str, state: str, width: float, opacity: float,
                  **where: int) -> None:
    """A legend line for a path shape: an empty trace of the shape's group (clicking it
    hides the shape too); a shape's own legend icon is an unreadable outline."""
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, legendgroup=state,
                             line={"color": STATE_COLORS[state], "width": width},
                             opacity=opacity, hoverinfo="skip"), **where)


def _end_marks(fig: go.Figure, group: list[Any], state: str) -> None:
    """Mark where pruned/failed curves end; many marks are summarised per step."""
    symbol = "x" if state == "PRUNED" else "circle-x"
    color = STATE_COLORS[state]
    if len(group) <= MAX_MARKS:
        x = np.array([cv.steps[-1] for cv in group], dtype=np.float32)
        y = np.array([cv.values[-1] for cv in group], dtype=np.float32)
        num = np.array([cv.number for cv in group], dtype=np.float32)
        text = _notes([cv.note for cv in group])
        size = 7
        hover = "trial %{customdata} %{text}<br>step %{x}: %{y:.4g}<extra></extra>"
    else:
        by_step: dict[int, list[Any]] = {}
        for cv in group:
            by_step.setdefault(cv.steps[-1], []).append(cv)
        steps = sorted(by_step)
        x = np.array(steps, dtype=np.float32)
        y = np.array([float(np.median([cv.values[-1] for cv in by_step[s]])) for s in steps])
        num = np.array([len(by_step[s]) for s in steps], dtype=np.float32)
        text = [_summary(by_step[s]) for s in steps]
        size = 12
        hover = ("%{customdata} trials " + ("stopped" if state == "PRUNED" else "failed")
                 + " at step %{x} (median %{y:.4g})<br>%{text}<extra></extra>")
    fig.add_trace(go.Scatter(
        x=x, y=y, customdata=num, text=text, mode="markers", legendgroup=state,
        showlegend=False, name="stopped" if state == "PRUNED" else "failed",
        marker={"symbol": symbol, "size": size, "color": color,
                "line": {"width": 1, "color": "#333"}}, hovertemplate=hover))


def _summary(group: list[Any]) -> str:
    counts: dict[str, int] = {}
    for cv in group:
        head = cv.head or "no explanation"
        counts[head] = counts.get(head, 0) + 1
    return "<br>".join(f"{n} × {h}" for h, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4])


def _axis_values(axis: ParamAxis) -> tuple[np.ndarray, dict[str, Any]]:
    vals = np.array([_NAN if v is None else v for v in axis.values], dtype=float)
    if axis.choices is not None:
        return vals, {"tickvals": list(range(len(axis.choices))), "ticktext": list(axis.choices),
                      "label": axis.name, "range": [-0.5, len(axis.choices) - 0.5]}
    if axis.log and np.nanmin(vals) > 0:
        return np.log10(vals), {"label": f"log10 {axis.name}"}
    return vals, {"label": axis.name}


def parallel_figure(d: ParamData, interactive: bool = False) -> go.Figure:
    """Parallel coordinates of objective and parameters over completed trials.

    The default draws SVG polylines in five colour bands by objective quantile (fast
    everywhere); ``interactive=True`` gives plotly's WebGL ``parcoords`` with brushing.
    """
    title = f"Parallel coordinates ({len(d.numbers)} completed trials)"
    if not d.numbers or not d.axes:
        return empty_figure(title, "No completed trial with parameters yet.")
    obj = np.asarray(d.objective, dtype=float)
    if interactive:
        dims = [{"label": d.metric, "values": obj}]
        for axis in d.axes:
            vals, extra = _axis_values(axis)
            dims.append({"values": vals, **extra})
        fig = go.Figure(go.Parcoords(
            dimensions=dims,
            line={"color": obj, "colorscale": "Viridis", "showscale": True,
                  "reversescale": d.direction == "minimize",
                  "colorbar": {"title": {"text": d.metric}}}))
        return _layout(fig, title + " · drag along an axis to filter",
                       margin={"l": 70, "r": 40, "t": 80, "b": 30})
    cols: list[tuple[str, np.ndarray, list[float], list[str]]] = []
    for label, vals, extra in [(d.metric, obj, {"label": d.metric}),
                               *((a.name, *_axis_values(a)) for a in d.axes)]:
        ticks, texts = _ticks(vals, extra)
        cols.append((extra.get("label", label), vals, ticks, texts))
    fig = go.Figure()
    m = len(cols)
    norm = np.empty((len(obj), m))
    for j, (_, vals, ticks, _) in enumerate(cols):
        lo, hi = min(ticks[0], np.nanmin(vals)), max(ticks[-1], np.nanmax(vals))
        norm[:, j] = (vals - lo) / (hi - lo) if hi > lo else 0.5
        for t, text in zip(ticks, cols[j][3], strict=True):
            y = (t - lo) / (hi - lo) if hi > lo else 0.5
            fig.add_annotation(x=j, y=y, text=text, showarrow=False, xanchor="left", xshift=4,
                               font={"size": 10, "color": "#555"})
    # Five bands by objective quantile, best drawn last so it sits on top.
    rank = np.argsort(np.argsort(-obj if d.direction == "maximize" else obj))
    band = (rank * 5 // len(obj)).astype(int)
    colors = ["#fde725", "#5ec962", "#21918c", "#3b528b", "#440154"]
    names = ["best 20%", "20–40%", "40–60%", "60–80%", "worst 20%"]
    for b in range(4, -1, -1):
        idx = np.flatnonzero(band == b)
        if not len(idx):
            continue
        xs = np.full((len(idx), m + 1), _NAN, dtype=np.float32)
        ys = np.full((len(idx), m + 1), _NAN, dtype=np.float32)
        xs[:, :m] = np.arange(m)
        ys[:, :m] = norm[idx]
        nums = np.repeat(np.asarray(d.numbers, dtype=np.float32)[idx], m + 1)
        fig.add_trace(go.Scatter(
            x=xs.ravel(), y=ys.ravel(), customdata=nums, mode="lines", name=names[b],
            line={"color": colors[b], "width": 1.5 if b == 0 else 1},
            opacity=0.9 if b == 0 else 0.45,
            hovertemplate="trial %{customdata}<extra>" + names[b] + "</extra>"))
    for j in range(m):
        fig.add_shape(type="line", x0=j, x1=j, y0=0, y1=1, line={"color": "#333", "width": 1})
    fig.update_xaxes(tickvals=list(range(m)), ticktext=[c[0] for c in cols], side="top",
                     range=[-0.2, m - 0.4], showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False, range=[-0.05, 1.05])
    return _layout(fig, title, margin={"l": 30, "r": 20, "t": 80, "b": 40})


def _ticks(vals: np.ndarray, extra: dict[str, Any]) -> tuple[list[float], list[str]]:
    if "tickvals" in extra:
        return list(extra["tickvals"]), list(extra["ticktext"])
    lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
    ticks = [lo, (lo + hi) / 2, hi] if hi > lo else [lo]
    log = extra.get("label", "").startswith("log10 ")
    return ticks, [f"{10 ** t:.3g}" if log else f"{t:.4g}" for t in ticks]


def slice_figure(d: ParamData) -> go.Figure:
    """Objective against each parameter, one panel per parameter."""
    title = f"Slice plots: {d.metric} against each parameter, {based_on(len(d.numbers))}"
    if not d.numbers or not d.axes:
        return empty_figure(title, "No completed trial with parameters yet.")
    cols = len(d.axes)
    fig = make_subplots(rows=1, cols=cols, shared_yaxes=True, horizontal_spacing=0.02,
                        subplot_titles=[a.name for a in d.axes])
    nums = np.asarray(d.numbers, dtype=float)
    for i, axis in enumerate(d.axes, start=1):
        if axis.choices is not None:
            x: Any = [None if v is None else axis.choices[int(v)] for v in axis.values]
        else:
            x = np.array([_NAN if v is None else v for v in axis.values], dtype=float)
        fig.add_trace(go.Scatter(
            x=x, y=np.asarray(d.objective, dtype=float), mode="markers", showlegend=False,
            customdata=nums, marker={"size": 6, "color": nums, "colorscale": "Viridis",
                                     "opacity": 0.7, "showscale": i == cols,
                                     "colorbar": {"title": {"text": "trial"}}},
            hovertemplate="trial %{customdata}<br>%{x}: %{y:.4g}<extra></extra>"),
            row=1, col=i)
        if axis.log:
            fig.update_xaxes(type="log", row=1, col=i)
        if axis.choices is not None:
            fig.update_xaxes(type="category", categoryorder="array",
                             categoryarray=list(axis.choices), row=1, col=i)
    fig.update_yaxes(title_text=d.metric, row=1, col=1)
    return _layout(fig, title)


def contour_figure(c: Contour) -> go.Figure:
    """Mean objective over a grid of two parameters, with the trials overlaid."""
    title = (f"Contour: {c.metric} over {c.x.name} × {c.y.name}, "
             f"{based_on(len(c.points_value))}")
    if not c.points_value:
        return empty_figure(title, "No completed trial has both parameters.")
    z = np.array([[_NAN if v is None else v for v in row] for row in c.z], dtype=float)
    fig = go.Figure(go.Contour(
        x=np.asarray(c.x_centers), y=np.asarray(c.y_centers), z=z, connectgaps=True,
        colorscale="Viridis", colorbar={"title": {"text": c.metric}}, line={"width": 0.5},
        hovertemplate=f"{c.x.name} %{{x:.3g}}<br>{c.y.name} %{{y:.3g}}<br>mean %{{z:.4g}}"
                      "<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=np.asarray(c.points_x, dtype=float), y=np.asarray(c.points_y, dtype=float),
        mode="markers", showlegend=False, marker={"size": 4, "color": "white",
                                                  "line": {"width": 0.6, "color": "#333"}},
        hoverinfo="skip"))
    for axis, update in ((c.x, fig.update_xaxes), (c.y, fig.update_yaxes)):
        if axis.choices is not None:
            update(tickvals=list(range(len(axis.choices))), ticktext=list(axis.choices))
        elif axis.log:
            update(type="log")
        update(title_text=axis.name)
    return _layout(fig, title)


def pareto_figure(p: Pareto) -> go.Figure:
    """All completed trials over two objectives; the non-dominated front joined by a line."""
    title = f"Pareto front: {p.names[0]} ({p.directions[0]}) × {p.names[1]} ({p.directions[1]})"
    if not p.numbers:
        return empty_figure(title, "No completed trial yet.")
    a, b = np.asarray(p.a, dtype=float), np.asarray(p.b, dtype=float)
    front = np.asarray(p.on_front, dtype=bool)
    nums = np.asarray(p.numbers, dtype=float)
    order = np.argsort(a[front])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=a[~front], y=b[~front], customdata=nums[~front],
                               mode="markers", name="dominated",
                               marker={"color": "#aab4c3", "size": 6},
                               hovertemplate="trial %{customdata}: (%{x:.4g}, %{y:.4g})"
                                             "<extra></extra>"))
    fig.add_trace(go.Scatter(x=a[front][order], y=b[front][order],
                             customdata=nums[front][order], mode="lines+markers",
                             name="Pareto front", line={"shape": "hv", "color": "#d62728"},
                             marker={"size": 8},
                             hovertemplate="trial %{customdata}: (%{x:.4g}, %{y:.4g})"
                                           "<extra></extra>"))
    fig.update_xaxes(title_text=p.names[0])
    fig.update_yaxes(title_text=p.names[1])
    return _layout(fig, title)


def _step_envelope(ts: tuple[float, ...], ns: tuple[int, ...], buckets: int = 800
                   ) -> tuple[list[float], list[int]]:
    """At most ~2 points per bucket (min and max) of a step series: a 20,000-step area
    costs plotly a second to fill, and a screen shows under a thousand columns anyway."""
    if len(ts) <= 2 * buckets:
        return list(ts), list(ns)
    lo, width = ts[0], (ts[-1] - ts[0]) / buckets or 1.0
    out_t: list[float] = []
    out_n: list[int] = []
    start = 0
    for b in range(buckets):
        end = start
        limit = lo + (b + 1) * width
        while end < len(ts) and (ts[end] <= limit or b == buckets - 1):
            end += 1
        if end > start:
            chunk = ns[start:end]
            out_t += [ts[start], ts[end - 1]]
            out_n += [max(chunk), min(chunk)] if b % 2 else [min(chunk), max(chunk)]
        start = end
    return out_t, out_n


def _bars_path(bars: list[Any], lane_ix: dict[str, int], zone: Zone) -> str:
    """One SVG path of horizontal segments, one per bar, in data coordinates.

    On a date axis plotly reads path coordinates as dates, written with ``_`` for the
    space (millisecond precision), in ``zone``'s wall-clock time.
    """
    stamp = _date_stamp
    starts = zone.shift([b.start for b in bars]).tolist()
    ends = zone.shift([b.end for b in bars]).tolist()
    return "".join(f"M{stamp(s)},{lane_ix[b.lane]}L{stamp(e)},{lane_ix[b.lane]}"
                   for b, s, e in zip(bars, starts, ends, strict=True))


def timeline_figure(t: Timeline, zone: Zone = UTC) -> go.Figure:
    """Trials as bars per worker lane, coloured by state, over the number running; the
    time axis reads ``zone``'s clocks and names it."""
    title = "Timeline of trials per " + ("host lane (workers packed)" if t.packed else "worker")
    if not t.bars:
        return empty_figure(title, "No trial has started yet.")
    lane_ix = {lane: i for i, lane in enumerate(t.lanes)}
    rows = len(t.lanes)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22],
                        vertical_spacing=0.04)
    # Thick lines read as bars: one line trace per state, bars separated by NaN gaps;
    # past MAX_LINES bars of one state, one path shape (as for learning curves).
    width = max(2.0, min(14.0, 260.0 / max(rows, 1)))
    for state, color in STATE_COLORS.items():
        group = [b for b in t.bars if b.state == state]
        if not group:
            continue
        n = len(group)
        if n > MAX_LINES:
            # Above the grid, below the traces: failure marks and running bars stay on top.
            fig.add_shape(type="path", path=_bars_path(group, lane_ix, zone), xref="x", yref="y",
                          line={"color": color, "width": width}, layer="between",
                          name=f"{state.lower()} ({n})", showlegend=False, legendgroup=state)
            _legend_entry(fig, f"{state.lower()} ({n})", state, min(width, 8.0), 1.0,
                          row=1, col=1)
        else:
            x = np.full(3 * n, _NAN)  # epoch ms need float64
            y = np.full(3 * n, _NAN, dtype=np.float32)
            num = np.full(3 * n, _NAN, dtype=np.float32)
            x[0::3] = _ms(zone.shift([b.start for b in group]))
            x[1::3] = _ms(zone.shift([b.end for b in group]))
            y[0::3] = y[1::3] = [lane_ix[b.lane] for b in group]
            num[0::3] = num[1::3] = [b.number for b in group]
            fig.add_trace(go.Scatter(x=x, y=y, customdata=num, mode="lines",
                                     line={"color": color, "width": width},
                                     name=f"{state.lower()} ({n})", legendgroup=state,
                                     hovertemplate="trial %{customdata}<extra></extra>"),
                          row=1, col=1)
        # Colour already says "pruned"; per-trial marks only while they stay legible.
        if state == "FAIL" or (state == "PRUNED" and n <= MAX_MARKS):
            fig.add_trace(go.Scatter(
                x=_ms(zone.shift([b.end for b in group])), y=[lane_ix[b.lane] for b in group],
                customdata=np.asarray([b.number for b in group], dtype=np.float32),
                text=_notes([b.note for b in group]),
                mode="markers", showlegend=False, legendgroup=state,
                marker={"symbol": "x" if state == "PRUNED" else "circle-x", "size": 7,
                        "color": color, "line": {"width": 1, "color": "#333"}},
                hovertemplate="trial %{customdata} %{text}<extra></extra>"), row=1, col=1)
    ct, cn = _step_envelope(t.concurrency_t, t.concurrency_n)
    fig.add_trace(go.Scatter(x=_ms(zone.shift(ct)), y=np.asarray(cn),
                             mode="lines", line={"shape": "hv", "color": "#555"},
                             name="trials running", fill="tozeroy",
                             hovertemplate="%{y} running<extra></extra>"), row=2, col=1)
    fig.update_yaxes(tickvals=list(range(rows)), ticktext=list(t.lanes), autorange="reversed",
                     row=1, col=1, showgrid=False)
    fig.update_yaxes(title_text="running", row=2, col=1)
    fig.update_xaxes(type="date", row=1, col=1)
    at = t.bars[0].start if t.bars else None
    fig.update_xaxes(type="date", title_text=f"time ({zone.label(at)})", row=2, col=1)
    height = max(HEIGHT, min(900, 120 + 22 * rows))
    return _layout(fig, title, height=height, margin={"l": 140, "r": 20, "t": 50, "b": 50},
                   hovermode="closest")


def importance_figure(imps: list[Importance], names: list[str] | None = None) -> go.Figure:
    """Parameter importance; several studies give grouped bars, one colour per study."""
    names = names or [""] * len(imps)
    title = "Parameter importance" + (f" ({imps[0].evaluator})" if imps else "")
    if len(imps) == 1 and imps[0].importances:
        title += f", {based_on(imps[0].n_trials)}"
    if not any(i.importances for i in imps):
        notes = "<br>".join((f"{n}: " if n else "") + _wrap(i.note)
                            for i, n in zip(imps, names, strict=True) if i.note)
        return empty_figure(title, f"Importance not shown.<br>{notes or 'nothing to assess'}")
    order: list[str] = []
    for imp in imps:
        order += [p for p, _ in imp.importances if p not in order]
    fig = go.Figure()
    left_out = [f"{n}: {_wrap(i.note)}" for i, n in zip(imps, names, strict=True)
                if not i.importances]
    for k, (imp, name) in enumerate(zip(imps, names, strict=True)):
        if not imp.importances:  # no zero bars for a study that could not be assessed
            continue
        vals = dict(imp.importances)
        few = ", few" if imp.n_trials < ADVISED_TRIALS else ""
        fig.add_trace(go.Bar(
            y=order[::-1], x=[vals.get(p, 0.0) for p in order[::-1]], orientation="h",
            name=f"{name} ({imp.n_trials} trials{few})" if name else f"{imp.n_trials} trials",
            marker={"color": STUDY_COLORS[k % len(STUDY_COLORS)]},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="importance (normalised)", range=[0, 1.02])
    if left_out:
        fig.add_annotation(text="Not shown: " + "<br>".join(left_out), showarrow=False,
                           xref="paper", yref="paper", x=1, y=1, xanchor="right",
                           yanchor="top", align="right", font={"size": 11, "color": "#666"})
    return _layout(fig, title, barmode="group", showlegend=len(imps) > 1,
                   height=max(HEIGHT, 90 + 28 * len(order) * max(1, len(imps))),
                   margin={"l": 140, "r": 20, "t": 50, "b": 50})


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit a span of ``seconds`` reads best in, as (name, seconds per unit):
    seconds under 2 min, minutes under 2 h, hours beyond (as the pages' durations)."""
    if seconds < 120:
        return "s", 1.0
    if seconds < 7200:
        return "min", 60.0
    return "h", 3600.0


PROGRESS_AXES = {"elapsed": ("wall time since the study's first trial", "wall time"),
                 "compute": ("compute used (trial-time: every trial's wall time added up)",
                             "compute"),
                 "trials": ("trials finished (any state)", "trials finished")}


def progress_figure(ps: list[Progress], x: str = "elapsed") -> go.Figure:
    """Best so far of several studies against elapsed time (``x="elapsed"``), compute
    (``"compute"``) or trials finished (``"trials"``); times in a unit chosen from the data."""
    label, short = PROGRESS_AXES[x]
    metrics = sorted({p.metric for p in ps})
    title = f"Best so far against {short}"
    if not any(p.best for p in ps):
        return empty_figure(title, "No study has a completed trial yet.")
    xs_of = {"elapsed": lambda p: p.elapsed_s, "compute": lambda p: p.compute_s,
             "trials": lambda p: p.trials}[x]
    unit, per = ("", 1.0) if x == "trials" else time_unit(
        max((v for p in ps for v in xs_of(p)), default=0.0))
    fig = go.Figure()
    for k, p in enumerate(ps):
        xs = np.asarray(xs_of(p), dtype=float) / per
        fig.add_trace(go.Scatter(
            x=xs, y=np.asarray(p.best, dtype=float), mode="lines+markers",
            name=f"{p.name} ({p.direction})", marker={"size": 4},
            line={"shape": "hv", "width": 2, "color": STUDY_COLORS[k % 10]},
            hovertemplate=f"{p.name}<br>%{{x:.3g}} {unit or 'trials'}: %{{y:.4g}}"
                          "<extra></extra>"))
    fig.update_xaxes(title_text=f"{label} ({unit})" if unit else label, rangemode="tozero")
    fig.update_yaxes(title_text=" / ".join(metrics))
    return _layout(fig, title)


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def step_bands_figure(bands: list[StepBand], metric: str) -> go.Figure:
    """Learning curves of several studies: per study the median over its trials at each
    step, the middle half shaded, and its best trial's curve dashed."""
    title = f"Learning curves across studies: {bands[0].metric if bands else metric}"
    if not any(b.steps for b in bands):
        return empty_figure(title, f"No study reported {metric}.")
    fig = go.Figure()
    for k, b in enumerate(bands):
        if not b.steps:
            continue
        color = STUDY_COLORS[k % len(STUDY_COLORS)]
        steps = np.asarray(b.steps, dtype=float)
        fig.add_trace(go.Scatter(
            x=np.concatenate([steps, steps[::-1]]),
            y=np.concatenate([np.asarray(b.q75), np.asarray(b.q25)[::-1]]),
            mode="lines", fill="toself", fillcolor=_rgba(color, 0.15), line={"width": 0},
            name=f"{b.name}: middle half", legendgroup=b.name, hoverinfo="skip",
            showlegend=False))
        fig.add_trace(go.Scatter(
            x=steps, y=np.asarray(b.median), customdata=np.asarray(b.count),
            mode="lines+markers", marker={"size": 4}, line={"color": color, "width": 2},
            name=f"{b.name}: median of trials", legendgroup=b.name,
            hovertemplate=f"{b.name}<br>step %{{x}}: median %{{y:.4g}} over "
                          "%{customdata} trials<extra></extra>"))
        if b.best_steps:
            fig.add_trace(go.Scatter(
                x=np.asarray(b.best_steps, dtype=float), y=np.asarray(b.best_values),
                mode="lines", line={"color": color, "width": 1.5, "dash": "dash"},
                name=f"{b.name}: best trial ({b.best_number})", legendgroup=b.name,
                hovertemplate=f"{b.name} best trial {b.best_number}<br>step %{{x}}: "
                              "%{y:.4g}<extra></extra>"))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=bands[0].metric)
    return _layout(fig, title + " · median, middle half shaded, best trial dashed")


TEMPLATE = "plotly_white"


@functools.cache
def template_json() -> dict[str, Any]:
    """The plotly template every figure is drawn with, as plotly.js reads it."""
    import plotly.io as pio
    from plotly.utils import PlotlyJSONEncoder

    return json.loads(json.dumps(pio.templates[TEMPLATE].to_plotly_json(), cls=PlotlyJSONEncoder))


def to_json(fig: go.Figure) -> str:
    """Plotly JSON of ``fig`` (numeric arrays as compact typed-array payloads)."""
    return fig.to_json()


def finite_or_none(x: Any) -> Any:
    """JSON-safe number: NaN and infinities become None."""
    return x if not isinstance(x, float) or math.isfinite(x) else None
