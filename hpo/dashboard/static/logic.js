// Pure logic of the dashboard pages: formatting, sorting, paging, panel scheduling.
//
// No DOM, no fetch, no globals: app.js wires these to the page, and
// tests/dashboard/js/ runs them under Node (`node --test tests/dashboard/js/`).
// A classic script, not an ES module, so the static report can inline it as is:
// in a browser it defines window.HPOLogic, under Node it is a CommonJS module.
(function (root, factory) {
  'use strict';
  const api = factory();
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.HPOLogic = api;
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  // A value for a table cell or card: '–' for missing, 5 significant digits for floats,
  // exponent notation for very small or large ones.
  function fmt(v) {
    if (v === null || v === undefined || v === '') return '–';
    if (typeof v === 'number') {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(3) : Number(v.toPrecision(5)).toString();
    }
    return String(v);
  }

  // Seconds as s (under 90 s), min (under 90 min) or h.
  function dur(s) {
    if (s === null || s === undefined) return '–';
    if (s < 90) return s.toFixed(0) + ' s';
    if (s < 5400) return (s / 60).toFixed(1) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }

  // "3 complete, 2 pruned" over `states` (in that order), skipping states with no trial.
  function countsText(counts, states) {
    return states.filter(s => counts[s]).map(s => counts[s] + ' ' + s.toLowerCase()).join(', ') || 'none';
  }

  // `path` resolved against `base` with `params` as query: arrays repeat the key,
  // null, undefined and '' are left out.
  function buildUrl(path, params, base) {
    const u = new URL(path, base);
    for (const [k, v] of Object.entries(params || {})) {
      if (Array.isArray(v)) v.forEach(x => u.searchParams.append(k, x));
      else if (v !== null && v !== undefined && v !== '') u.searchParams.set(k, v);
    }
    return u.toString();
  }

  // "metric (maximize, minimize)" of a study summary; the bare metric without directions.
  function metricLabel(metric, directions) {
    return metric + (directions.length ? ' (' + directions.join(', ') + ')' : '');
  }

  // Rows (arrays) sorted by column `col`, ascending for dir 1, descending for -1;
  // missing values (null, undefined) last either way. Returns a new array.
  function sortRows(rows, col, dir) {
    return rows.slice().sort((a, b) => {
      const x = a[col], y = b[col];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    });
  }

  // Rows whose column `col` equals `value`; all rows when `value` is empty.
  function filterRows(rows, col, value) {
    return value ? rows.filter(r => r[col] === value) : rows;
  }

  // Page `page` (0-based, clamped to the last page) of `rows`, `per` rows a page.
  function pageOf(rows, page, per) {
    const pages = Math.max(1, Math.ceil(rows.length / per));
    const p = Math.max(0, Math.min(page, pages - 1));
    return {page: p, pages, rows: rows.slice(p * per, (p + 1) * per)};
  }

  // The sort after a click on column `col`: the same column flips, another sorts ascending.
  function nextSort(sort, col) {
    return {col, dir: sort.col === col ? -sort.dir : 1};
  }

  // A column heading with the sort arrow on the sorted column.
  function sortLabel(name, i, sort) {
    return name + (sort.col === i ? (sort.dir > 0 ? ' ▲' : ' ▼') : '');
  }

  // CSS class of a table cell holding `v`.
  function cellClass(v) {
    return typeof v === 'number' ? 'num' : '';
  }

  // Options of the trial-state filter: [value, label] pairs, "all states" first.
  function stateOptions(states) {
    return [['', 'all states']].concat(states.map(s => [s, s.toLowerCase()]));
  }

  // Whether a panel shows its controls: a static report has no server to ask for another
  // figure, except the metric of the curves, whose figures it carries for every metric.
  function showsControls(panel, hasControls, isStatic) {
    return Boolean(hasControls) && (!isStatic || panel === 'curves');
  }

  // Placeholder height (px) that keeps the layout stable until a panel is drawn.
  function placeholderHeight(panel) {
    return panel === 'timeline' ? 480 : 380;
  }

  // First load: the panels on screen are fetched and drawn first, then the rest and the table.
  function splitFirstScreen(order, onScreen) {
    const first = order.filter(onScreen);
    const rest = order.filter(p => !first.includes(p)).concat(['table']);
    return {first, rest};
  }

  // A panel scrolled into view moves to the front of the drawing queue (in place); the
  // panel already at the front, or one no longer queued, leaves it as it is.
  function promote(queue, panel) {
    const i = queue.indexOf(panel);
    if (i > 0) { queue.splice(i, 1); queue.unshift(panel); }
    return queue;
  }

  // The figure to draw for `panel`: a static report keeps one curves figure per metric
  // under "curves:<metric>". undefined: the payload does not carry the panel.
  function figureFor(figures, panel, metric, isStatic) {
    let fig = figures[panel];
    if (isStatic && panel === 'curves' && metric) fig = figures['curves:' + metric] || fig;
    return fig;
  }

  // Figure layout ready to draw: zoom and hidden traces survive live redraws, and a figure
  // without its own template gets the page's shared one. Changes and returns `fig`.
  function prepareFigure(fig, template) {
    fig.layout.uirevision = 'keep';
    if (template && !(fig.layout.template && Object.keys(fig.layout.template).length)) fig.layout.template = template;
    return fig;
  }

  // The browser's IANA time zone: the page sends it, so the timeline's axis shows the same
  // clock as the header (UTC where the browser cannot say).
  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { return 'UTC'; }
  }

  // A 24-hour clock time in `zone`, labelled with the zone's name, as the timeline's axis is.
  function zoneClock(date, zone) {
    const f = new Intl.DateTimeFormat('en-GB', {timeZone: zone, hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit'});
    return f.format(date) + ' ' + zone;
  }

  // CSS class of a state badge: trial states (COMPLETE) and study states ("time budget").
  function stateClass(state) {
    return 's-' + String(state).replace(/\s+/g, '-');
  }

  // The message of a failed request: the server's JSON {"error": ...} when it sent one.
  function errorText(status, body) {
    let msg = body;
    try { const j = JSON.parse(body); if (j && typeof j.error === 'string') msg = j.error; } catch (e) { /* not JSON */ }
    return msg + ' (HTTP ' + status + ')';
  }

  // A control change that failed: the message shown in its panel, naming the choice that
  // failed and the one the selector went back to.
  function choiceFailed(label, tried, kept, message) {
    return label + ' "' + tried + '" failed: ' + message + ' · back to "' + kept + '"';
  }

  // Whether a figure needs the full plotly.js: the page started with a partial bundle
  // (plotly.traces: the trace types it draws) and the figure has another type.
  function needsFullPlotly(fig, plotly) {
    if (!plotly || !plotly.traces || !plotly.full) return false;
    return (fig.data || []).some(t => !plotly.traces.includes(t.type || 'scatter'));
  }

  // The header's live-update text before the first poll.
  function liveText(isStatic, seconds) {
    if (isStatic) return 'static report';
    if (!seconds) return 'live updates off';
    return 'live · every ' + seconds + ' s';
  }

  return {
    fmt, dur, countsText, buildUrl, metricLabel, sortRows, filterRows, pageOf, nextSort,
    sortLabel, cellClass, stateOptions, showsControls, placeholderHeight, splitFirstScreen,
    promote, figureFor, prepareFigure, liveText, browserZone, zoneClock, stateClass, errorText, choiceFailed,
    needsFullPlotly,
  };
});
