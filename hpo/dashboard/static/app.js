// The pages of the dashboard: studies list, one study, comparison. DOM wiring only;
// the logic lives in logic.js (window.HPOLogic), loaded before this script.
//
// window.HPO is the page's settings, written by hpo/dashboard/_pages.py. Its `names`
// (study panels in page order, importance evaluators, trial states) come from the
// Python modules that define them, so this script never repeats those lists.
(function () {
'use strict';
const C = window.HPO;
const N = C.names;
const L = window.HPOLogic;
const {fmt, dur} = L;
const app = document.getElementById('app');
const PLOT_CFG = {responsive: true, displaylogo: false};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
function url(path, params) { return L.buildUrl(path, params, window.location.href); }
async function getJSON(u) {
  const r = await fetch(u, {cache: 'no-store', credentials: 'same-origin'});
  if (!r.ok) throw new Error(L.errorText(r.status, await r.text()));
  return r.json();
}
function showError(err) {
  const box = document.getElementById('error') || app.insertBefore(el('div', {id: 'error', class: 'error'}), app.firstChild);
  box.textContent = String(err && err.message || err);
}
function clearError() { const b = document.getElementById('error'); if (b) b.remove(); }
// A failed panel request is shown in the panel itself, above the chart of the last
// choice that worked; the next successful draw of that panel removes it.
function panelError(panelId, message) {
  const panel = document.getElementById('panel-' + panelId);
  if (!panel) { showError(message); return; }
  let box = panel.querySelector('.panel-error');
  if (!box) { box = el('div', {class: 'error panel-error', role: 'alert'}); panel.insertBefore(box, panel.querySelector('.plot')); }
  box.textContent = message;
}
function clearPanelError(panelId) {
  const box = document.querySelector('#panel-' + panelId + ' .panel-error');
  if (box) box.remove();
}
// A selector whose change asks the server for one panel: on failure the choice is undone
// (the option and the request parameter) and the panel says what failed and why.
function choice(label, opts, key, panelId, load) {
  let good = opts[key];
  const sel = el('select', {'aria-label': label, onchange: async e => {
    const tried = e.target.value;
    opts[key] = tried;
    try { await load(); good = tried; clearPanelError(panelId); }
    catch (err) {
      opts[key] = good;
      sel.value = good || (sel.options[0] && sel.options[0].value) || '';
      panelError(panelId, L.choiceFailed(label, tried, sel.value, err.message || String(err)));
    }
  }});
  sel.settle = v => { good = v; };
  return sel;
}
function setLive(text) { document.getElementById('live').textContent = text; }
// plotly.js loads asynchronously (see _pages.page); drawing waits for it.
const plotlyLoaded = window.Plotly ? Promise.resolve() : new Promise((resolve, reject) => {
  const tag = document.getElementById('plotly-js');
  if (!tag) { reject(new Error('plotly.js is missing')); return; }
  tag.addEventListener('load', () => resolve());
  tag.addEventListener('error', () => reject(new Error('plotly.js failed to load')));
});
// The page starts with plotly.js's cartesian bundle when the server has it (C.plotly, see
// _plotlyjs.py); a figure with another trace type loads the full bundle first, once.
let fullPlotly = null;
function loadFullPlotly() {
  if (!fullPlotly) fullPlotly = new Promise((resolve, reject) => {
    const tag = el('script', {src: C.plotly.full});
    tag.addEventListener('load', () => resolve());
    tag.addEventListener('error', () => { fullPlotly = null; reject(new Error('the full plotly.js failed to load')); });
    document.head.append(tag);
  });
  return fullPlotly;
}
async function draw(div, fig) {
  const panel = div.closest('.panel');
  if (!fig) { if (panel) panel.style.display = 'none'; return; }
  await plotlyLoaded;
  if (L.needsFullPlotly(fig, C.plotly)) await loadFullPlotly();
  if (panel) panel.style.display = '';
  div.style.minHeight = '';  // the placeholder height that kept the page layout stable
  // Figures come without a template; the page holds one shared copy.
  L.prepareFigure(fig, C.template);
  // A plot drawn by the other bundle is cleared by it: each keeps its own trace modules.
  if (div.hpoPlotly && div.hpoPlotly !== window.Plotly) div.hpoPlotly.purge(div);
  div.hpoPlotly = window.Plotly;
  const t0 = performance.now();
  return Plotly.react(div, fig.data, fig.layout, PLOT_CFG).then(r => {
    (window.hpoPlotMs = window.hpoPlotMs || {})[div.id] = Math.round(performance.now() - t0);
    return r;
  });
}
function stateBadge(s, note) { return el('span', {class: 'badge ' + L.stateClass(s), title: note || null}, s.toLowerCase()); }
function card(k, v) { return el('div', {class: 'card'}, el('div', {class: 'k'}, k), el('div', {class: 'v'}, v)); }
function countsText(c) { return L.countsText(c, N.states); }
function poller(check, seconds) {
  setLive(L.liveText(C.static, seconds));
  if (C.static || !seconds) return;
  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try { await check(); clearError(); setLive('live · updated ' + L.zoneClock(new Date(), L.browserZone())); }
    catch (e) { setLive('live · store unreachable, retrying'); }
    finally { busy = false; }
  }, seconds * 1000);
}
function ready(promises) {
  Promise.all(promises).then(() => { window.hpoReady = true; }, e => { showError(e); });
}

// Sortable, paged table of rows (arrays) under `columns`.
function dataTable(columns, rows, opts) {
  opts = opts || {};
  const st = {col: opts.sortCol ?? 0, dir: opts.sortDir ?? 1, page: 0, filter: ''};
  const per = opts.perPage || 50;
  const wrap = el('div');
  function render() {
    const rs = L.sortRows(L.filterRows(rows, opts.filterCol, st.filter), st.col, st.dir);
    const pg = L.pageOf(rs, st.page, per);
    st.page = pg.page;
    const pages = pg.pages;
    const head = el('tr', {}, columns.map((c, i) => el('th', {
      title: 'sort by ' + c, onclick: () => { Object.assign(st, L.nextSort(st, i)); render(); }
    }, L.sortLabel(c, i, st))));
    const body = pg.rows.map(r => el('tr', {}, r.map((v, i) =>
      opts.cell ? opts.cell(columns[i], v, r) : el('td', {class: L.cellClass(v)}, fmt(v)))));
    const pager = el('div', {class: 'pager'},
      el('button', {onclick: () => { st.page--; render(); }, disabled: st.page === 0 ? 'disabled' : null}, '‹ prev'),
      el('span', {class: 'muted'}, `page ${st.page + 1} of ${pages} · ${rs.length} rows`),
      el('button', {onclick: () => { st.page++; render(); }, disabled: st.page >= pages - 1 ? 'disabled' : null}, 'next ›'),
      opts.filterCol !== undefined ? el('select', {'aria-label': 'filter by state', onchange: e => { st.filter = e.target.value; st.page = 0; render(); }},
        L.stateOptions(N.states).map(([s, label]) => { const o = el('option', {value: s}, label); if (s === st.filter) o.selected = true; return o; })) : null);
    wrap.replaceChildren(pager, el('div', {class: 'tablewrap'}, el('table', {}, el('thead', {}, head), el('tbody', {}, body))));
  }
  wrap.update = newRows => { rows = newRows; render(); };
  render();
  return wrap;
}

// ---------------------------------------------------------------- studies list
async function studiesPage() {
  document.title = 'hpo studies';
  const selected = new Set();
  const cmp = el('button', {disabled: 'disabled', id: 'compare-btn', onclick: () => {
    window.location.href = url(C.root + 'compare', {study: [...selected]});
  }}, 'Compare selected');
  const tableBox = el('div');
  app.replaceChildren(el('h1', {}, 'Studies'), el('div', {class: 'toolbar'}, cmp,
    el('span', {class: 'muted'}, 'tick two or more studies to compare them · storage: ', el('code', {}, C.storage || ''))), tableBox);
  const cols = ['', 'study', 'state', 'why', 'trials', 'by state', 'best', 'metric', 'duration', 'compute', 'model', 'data'];
  function rowsOf(data) {
    return data.studies.map(s => [s.name, s.name, s.state, s.state_note, s.n_trials, countsText(s.counts), s.best,
      L.metricLabel(s.metric, s.directions), s.duration_s, s.compute_s, s.model, s.data]);
  }
  const cell = (col, v, r) => {
    if (col === '') {
      const box = el('input', {type: 'checkbox', 'aria-label': 'select ' + v, onchange: e => {
        e.target.checked ? selected.add(v) : selected.delete(v); cmp.disabled = selected.size < 2; }});
      box.checked = selected.has(v);
      return el('td', {}, box);
    }
    if (col === 'study') return el('td', {}, el('a', {href: C.root + 'study/' + encodeURIComponent(v)}, v));
    if (col === 'state') return el('td', {}, stateBadge(v, r[3]));
    if (col === 'why') return el('td', {class: 'note'}, v || '');
    if (col === 'duration') return el('td', {class: 'num'}, dur(v));
    if (col === 'compute') return el('td', {class: 'num', title: 'every trial\'s wall time added up'}, dur(v));
    return el('td', {class: L.cellClass(v)}, fmt(v));
  };
  const data = await getJSON(C.root + 'api/studies');
  if (!data.studies.length) tableBox.append(el('p', {class: 'muted'}, 'No study in this storage yet.'));
  const table = dataTable(cols, rowsOf(data), {sortCol: 1, cell, perPage: 100});
  tableBox.append(table);
  window.hpoReady = true;
  poller(async () => { table.update(rowsOf(await getJSON(C.root + 'api/studies'))); }, C.refresh_s);
}

// ---------------------------------------------------------------- one study
async function studyPage() {
  const name = C.study;
  document.title = name + ' · hpo';
  document.getElementById('crumb').textContent = '› ' + name;
  const opts = {metric: '', x: '', y: '', evaluator: N.evaluators[0], style: '', tz: L.browserZone()};
  const divs = {};
  const order = N.study_panels;
  const wide = new Set(['curves', 'timeline', 'parallel', 'slice']);
  const cards = el('div', {class: 'cards'});
  const grid = el('div', {class: 'grid'});
  const metricSel = choice('metric', opts, 'metric', 'curves', () => refresh(['curves']));
  const xSel = choice('contour x', opts, 'x', 'contour', () => refresh(['contour']));
  const ySel = choice('contour y', opts, 'y', 'contour', () => refresh(['contour']));
  const evSel = choice('importance evaluator', opts, 'evaluator', 'importance', () => refresh(['importance']));
  evSel.append(...N.evaluators.map(v => el('option', {value: v}, v)));
  const styleSel = choice('parallel style', opts, 'style', 'parallel', () => refresh(['parallel']));
  styleSel.append(el('option', {value: ''}, 'lines (fast)'), el('option', {value: 'interactive'}, 'interactive, brushable (WebGL)'));
  const controls = {parallel: ['style ', styleSel], curves: ['metric ', metricSel], contour: ['x ', xSel, ' y ', ySel], importance: ['evaluator ', evSel]};
  for (const p of order) {
    divs[p] = el('div', {class: 'plot', id: 'plot-' + p, style: 'min-height:' + L.placeholderHeight(p) + 'px'});
    const ctl = L.showsControls(p, controls[p], C.static) ? el('div', {class: 'controls'}, controls[p]) : null;
    grid.append(el('div', {class: 'panel' + (wide.has(p) ? ' wide' : ''), id: 'panel-' + p}, ctl, divs[p]));
  }
  const tableBox = el('div', {class: 'panel wide', id: 'panel-table'});
  grid.append(tableBox);
  const shipBox = el('div', {class: 'panel wide', id: 'panel-finalists', hidden: true});
  app.replaceChildren(el('h1', {}, name), cards, shipBox, grid);

  // `hpo finalize` and `hpo export` as the store recorded them: every finalist's mean and
  // 95 % interval on the selection split, the pick, and the config that was exported.
  function renderShipping(fin, exp) {
    if (!fin && !exp) { shipBox.hidden = true; return; }
    shipBox.hidden = false;
    const kids = [el('div', {class: 'controls'}, el('b', {}, 'Finalists'), el('span', {class: 'muted'},
      fin ? `re-run over ${(fin.seeds || []).length} seed(s) in ${fin.study}; picked by ${fin.pick_by === 'lower' ? "the interval's lower bound" : 'mean'}`
          + (fin.optimism == null ? '' : `; optimism (search minus selection score) ${fmt(fin.optimism)}`)
          + (fin.running ? ' (a finalize is running)' : '')
        : 'no finalize recorded'))];
    if (fin && fin.candidates) {
      const head = ['', 'trial', 'params', 'search score', 'runs', 'mean', 'std', '95 % interval'];
      kids.push(el('table', {class: 'finalists'}, el('tr', {}, ...head.map(h => el('th', {}, h))),
        ...fin.candidates.map(c => el('tr', {class: c.trial === fin.picked ? 'picked' : ''},
          el('td', {}, c.trial === fin.picked ? 'picked' : ''), el('td', {class: 'num'}, String(c.trial)),
          el('td', {class: 'note'}, Object.entries(c.params || {}).map(([k, v]) => k + '=' + fmt(v)).join(', ')),
          el('td', {class: 'num'}, fmt(c.search_score)), el('td', {class: 'num'}, String(c.n)),
          el('td', {class: 'num'}, fmt(c.mean)), el('td', {class: 'num'}, fmt(c.std)),
          el('td', {class: 'num'}, c.low == null ? '–' : `[${fmt(c.low)}, ${fmt(c.high)}]`)))));
    }
    kids.push(el('p', {class: 'muted', id: 'exported'}, exp
      ? `exported: trial ${exp.trial} (${exp.source || 'search'}) to ${exp.path} as ${exp.format}`
      : 'not exported yet (hpo export)'));
    shipBox.replaceChildren(...kids);
  }
  let table = null, revision = null;

  function fillSelect(sel, values, current) {
    const have = [...sel.options].map(o => o.value).join('\n');
    if (have !== values.join('\n')) sel.replaceChildren(...values.map(v => el('option', {value: v}, v)));
    sel.value = current;
    if (sel.settle) sel.settle(current);  // drawn with this choice: the one to go back to
  }
  function render(data, which) {
    const s = data.summary;
    revision = data.revision;
    renderShipping(data.finalize, data.export);
    cards.replaceChildren(card('state', [stateBadge(s.state, s.state_note), el('div', {class: 'why'}, s.state_note)]),
      card('trials', s.n_trials), card('by state', countsText(s.counts)),
      card('best ' + s.metric, fmt(s.best)), card('direction', s.directions.join(', ')), card('duration', dur(s.duration_s)),
      card('compute', dur(s.compute_s)), card('model', s.model || '–'), card('data', s.data || '–'));
    fillSelect(metricSel, data.metrics, opts.metric || data.metrics[0]);
    if (data.params.length > 1) {
      fillSelect(xSel, data.params, opts.x || data.params[0]);
      fillSelect(ySel, data.params, opts.y || data.params[1]);
    }
    // Draw one plot per task, so the browser paints between them; panels on screen
    // first, the rest in the background (a panel scrolled into view jumps the queue).
    let chain = Promise.resolve();
    for (const p of which) {
      if (p === 'table') continue;
      const fig = L.figureFor(data.figures, p, opts.metric, C.static);
      if (fig !== undefined) chain = chain.then(() => new Promise(r => setTimeout(r, 0))).then(() => draw(divs[p], fig));
    }
    const promises = [chain];
    if (data.table) {
      const t = data.table;
      const rows = t.rows;
      const cell = (col, v) => {
        if (col === 'state') return el('td', {}, stateBadge(v));
        if (col === 'duration_s') return el('td', {class: 'num'}, dur(v));
        if (col === 'note') return el('td', {class: 'note'}, v || '');
        return el('td', {class: L.cellClass(v)}, fmt(v));
      };
      if (!table) {
        table = dataTable(t.columns, rows, {sortCol: 0, cell, filterCol: 1});
        tableBox.replaceChildren(el('div', {class: 'controls'}, el('b', {}, 'Trials'),
          el('span', {class: 'muted'}, 'click a column to sort; note says why a trial stopped early or failed')), table);
      } else table.update(rows);
    }
    return promises;
  }
  async function refresh(which) {
    if (C.static) return Promise.all(render(C.data, which));
    const data = await getJSON(url(C.root + 'api/study/' + encodeURIComponent(name), Object.assign({panel: which}, opts)));
    await Promise.all(render(data, which));
  }
  // Panels whose placeholder (CSS min-height) reaches into the window: drawn first.
  function onScreen(p) {
    const r = (p === 'table' ? tableBox : divs[p]).getBoundingClientRect();
    return r.top < window.innerHeight && r.bottom > 0;
  }
  // First load: fetch and draw what is on screen, then fetch the rest and draw it in the
  // background, one panel per task, any panel scrolled into view first.
  // window.hpoFirstScreen: the panels on screen are drawn; window.hpoReady: all panels are.
  async function firstLoad() {
    const t0 = performance.now();
    const {first, rest} = L.splitFirstScreen(order, onScreen);
    const data = await getJSON(url(C.root + 'api/study/' + encodeURIComponent(name), Object.assign({panel: first}, opts)));
    const t1 = performance.now();
    // The server builds the rest while the browser draws the first screen.
    const restReq = getJSON(url(C.root + 'api/study/' + encodeURIComponent(name), Object.assign({panel: rest}, opts)));
    await Promise.all(render(data, first));
    const t2 = performance.now();
    window.hpoFirstScreen = true;
    const more = await restReq;
    const t3 = performance.now();
    if (more.revision !== data.revision) { await refresh(all); return; }
    const drawn = {};
    let tp = performance.now();
    render(Object.assign({}, more, {figures: {}}), ['table']);
    drawn.table = performance.now() - tp;
    const queue = rest.filter(p => p !== 'table' && more.figures[p] !== undefined);
    const io = 'IntersectionObserver' in window ? new IntersectionObserver(entries => {
      for (const e of entries) {
        if (e.isIntersecting) L.promote(queue, e.target.id.slice('plot-'.length));
      }
    }) : null;
    if (io) queue.forEach(p => io.observe(divs[p]));
    while (queue.length) {
      await new Promise(r => setTimeout(r, 0));
      const p = queue.shift();
      tp = performance.now();
      await draw(divs[p], more.figures[p]);
      drawn[p] = Math.round(performance.now() - tp);
    }
    if (io) io.disconnect();
    window.hpoTimings = {first_fetch_ms: t1 - t0, first_draw_ms: t2 - t1, first_screen_ms: t2 - t0,
      rest_fetch_ms: t3 - t2, all_drawn_ms: performance.now() - t0, first_panels: first.join(' '),
      draw_ms: drawn};
  }
  const all = order.concat(['table']);
  if (C.static) { ready(render(C.data, all)); return; }
  ready([firstLoad()]);
  poller(async () => {
    const r = await getJSON(url(C.root + 'api/revision', {study: name}));
    if (r.revision[0] !== revision) await refresh(all);
  }, C.refresh_s);
}

// ---------------------------------------------------------------- comparison
async function comparePage() {
  const names = C.studies;
  document.title = 'compare · hpo';
  document.getElementById('crumb').textContent = '› ' + (C.title || 'compare ' + names.join(', '));
  const panels = C.panels;
  const divs = {};
  const cmpOpts = {metric: ''};
  const metricSel = choice('metric', cmpOpts, 'metric', 'curves', () => load());
  const grid = el('div', {class: 'grid'});
  const summaryBox = el('div', {class: 'panel wide', id: 'panel-summary'});
  const configBox = el('div', {class: 'panel wide', id: 'panel-best_configs'});
  for (const p of panels) {
    if (p === 'summary') grid.append(summaryBox);
    else if (p === 'best_configs') grid.append(configBox);
    else {
      divs[p] = el('div', {class: 'plot', id: 'plot-' + p});
      const ctl = p === 'curves' && !C.static ? el('div', {class: 'controls'}, 'metric ', metricSel) : null;
      grid.append(el('div', {class: 'panel' + (p === 'importance' || p === 'curves' ? ' wide' : ''), id: 'panel-' + p}, ctl, divs[p]));
    }
  }
  app.replaceChildren(el('h1', {}, C.title || 'Comparison'), C.description ? el('p', {class: 'muted'}, C.description) : '', grid);
  if (!names.length) { showError('No study matches this dashboard\'s "studies" patterns yet.'); window.hpoReady = true; }
  let revision = null;
  function render(data) {
    revision = JSON.stringify(data.revision);
    if (data.metrics) {
      const have = [...metricSel.options].map(o => o.value).join('\n');
      if (have !== data.metrics.join('\n')) metricSel.replaceChildren(...data.metrics.map(v => el('option', {value: v}, v)));
      metricSel.value = cmpOpts.metric || data.metrics[0];
    }
    if (panels.includes('summary')) {
      const rows = data.summaries.map(s => el('tr', {},
        el('td', {}, el('a', {href: C.root + 'study/' + encodeURIComponent(s.name)}, s.name)), el('td', {}, stateBadge(s.state, s.state_note)),
        el('td', {class: 'note'}, s.state_note), el('td', {class: 'num'}, s.n_trials), el('td', {}, countsText(s.counts)), el('td', {class: 'num'}, fmt(s.best)),
        el('td', {}, s.metric + ' (' + s.directions.join(', ') + ')'), el('td', {class: 'num'}, dur(s.duration_s)), el('td', {class: 'num'}, dur(s.compute_s))));
      summaryBox.replaceChildren(el('div', {class: 'controls'}, el('b', {}, 'Studies')), el('table', {},
        el('thead', {}, el('tr', {}, ['study', 'state', 'why', 'trials', 'by state', 'best', 'metric', 'duration', 'compute'].map(h => el('th', {class: 'nosort'}, h)))),
        el('tbody', {}, rows)));
    }
    if (data.best_configs) {
      const bc = data.best_configs;
      const rows = bc.rows.map(r => el('tr', {class: r.differs ? 'differs' : ''}, el('td', {}, el(r.kind === 'param' ? 'code' : 'b', {}, r.label)),
        r.values.map(v => el('td', {class: L.cellClass(v)}, fmt(v)))));
      configBox.replaceChildren(el('div', {class: 'controls'}, el('b', {}, 'Best configuration of each study'),
        el('span', {class: 'muted'}, 'highlighted rows differ between studies')),
        el('div', {class: 'tablewrap'}, el('table', {}, el('thead', {}, el('tr', {}, el('th', {class: 'nosort'}, ''), bc.studies.map(s => el('th', {class: 'nosort'}, s)))),
          el('tbody', {}, rows))));
    }
    return Object.entries(divs).map(([p, div]) => draw(div, data.figures[p]));
  }
  async function load() {
    if (C.static) return Promise.all(render(C.data));
    const data = await getJSON(url(C.root + 'api/compare', {study: names, panel: panels, dashboard: C.dashboard, metric: cmpOpts.metric}));
    return Promise.all(render(data));
  }
  if (!names.length) return;
  ready([load()]);
  poller(async () => {
    const r = await getJSON(url(C.root + 'api/revision', {study: names, dashboard: C.dashboard}));
    if (JSON.stringify(r.revision) !== revision) await load();
  }, C.refresh_s);
}

const pages = {studies: studiesPage, study: studyPage, compare: comparePage};
pages[C.page]().catch(showError);
})();
