// Pure logic of the dashboard pages (hpo/dashboard/static/logic.js), under Node's own
// test runner: `node --test tests/dashboard/js/` (tests/dashboard/test_js.py runs it).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {createRequire} from 'node:module';

const require = createRequire(import.meta.url);
const L = require('../../../hpo/dashboard/static/logic.js');

const STATES = ['COMPLETE', 'PRUNED', 'FAIL', 'RUNNING', 'WAITING'];

test('fmt: missing values, integers, significant digits, exponents', () => {
  assert.equal(L.fmt(null), '–');
  assert.equal(L.fmt(undefined), '–');
  assert.equal(L.fmt(''), '–');
  assert.equal(L.fmt(0), '0');
  assert.equal(L.fmt(24), '24');
  assert.equal(L.fmt(0.123456789), '0.12346');
  assert.equal(L.fmt(-3.14159265), '-3.1416');
  assert.equal(L.fmt(0.0), '0');
  assert.equal(L.fmt(3e-5), '3.000e-5');
  assert.equal(L.fmt(1234567.5), '1.235e+6');
  assert.equal(L.fmt('adamw'), 'adamw');
  assert.equal(L.fmt(true), 'true');
});

test('dur: seconds, minutes, hours and missing', () => {
  assert.equal(L.dur(null), '–');
  assert.equal(L.dur(undefined), '–');
  assert.equal(L.dur(0), '0 s');
  assert.equal(L.dur(89.4), '89 s');
  assert.equal(L.dur(90), '1.5 min');
  assert.equal(L.dur(5399), '90.0 min');
  assert.equal(L.dur(5400), '1.5 h');
});

test('countsText follows the given state order and skips empty states', () => {
  assert.equal(L.countsText({COMPLETE: 8, PRUNED: 14, FAIL: 1, RUNNING: 1, WAITING: 0}, STATES),
    '8 complete, 14 pruned, 1 fail, 1 running');
  assert.equal(L.countsText({WAITING: 2, COMPLETE: 1}, STATES), '1 complete, 2 waiting');
  assert.equal(L.countsText({COMPLETE: 0}, STATES), 'none');
  assert.equal(L.countsText({}, []), 'none');
});

test('buildUrl: repeated keys for arrays, empty values left out, relative to base', () => {
  const u = L.buildUrl('/api/study/a%20b', {panel: ['history', 'curves'], metric: '', x: null,
    y: undefined, evaluator: 'fanova'}, 'http://127.0.0.1:8080/study/a%20b');
  assert.equal(u, 'http://127.0.0.1:8080/api/study/a%20b?panel=history&panel=curves&evaluator=fanova');
  assert.equal(L.buildUrl('compare', {study: []}, 'http://h/x/'), 'http://h/x/compare');
  assert.equal(L.buildUrl('api/studies', undefined, 'http://h/'), 'http://h/api/studies');
});

test('metricLabel shows directions only when there are some', () => {
  assert.equal(L.metricLabel('accuracy', ['maximize']), 'accuracy (maximize)');
  assert.equal(L.metricLabel('a', ['maximize', 'minimize']), 'a (maximize, minimize)');
  assert.equal(L.metricLabel('objective', []), 'objective');
});

test('sortRows: ascending, descending, missing values last, input untouched', () => {
  const rows = [[3, 'b'], [null, 'x'], [1, 'c'], [2, 'a'], [undefined, 'y']];
  const copy = rows.map(r => r.slice());
  assert.deepEqual(L.sortRows(rows, 0, 1).map(r => r[0]), [1, 2, 3, null, undefined]);
  assert.deepEqual(L.sortRows(rows, 0, -1).slice(0, 3).map(r => r[0]), [3, 2, 1]);
  assert.deepEqual(L.sortRows(rows, 0, -1).slice(3).map(r => r[1]).sort(), ['x', 'y']);
  assert.deepEqual(L.sortRows(rows, 1, 1).map(r => r[1]), ['a', 'b', 'c', 'x', 'y']);
  assert.deepEqual(rows, copy);
});

test('filterRows keeps matching rows; an empty filter keeps all', () => {
  const rows = [[0, 'COMPLETE'], [1, 'PRUNED'], [2, 'COMPLETE']];
  assert.deepEqual(L.filterRows(rows, 1, 'COMPLETE').map(r => r[0]), [0, 2]);
  assert.equal(L.filterRows(rows, 1, ''), rows);
  assert.equal(L.filterRows(rows, undefined, ''), rows);
  assert.deepEqual(L.filterRows(rows, 1, 'FAIL'), []);
});

test('pageOf: page count, clamping, slices', () => {
  const rows = Array.from({length: 120}, (_, i) => [i]);
  let p = L.pageOf(rows, 0, 50);
  assert.equal(p.pages, 3);
  assert.equal(p.page, 0);
  assert.deepEqual(p.rows.map(r => r[0]).slice(0, 2), [0, 1]);
  p = L.pageOf(rows, 2, 50);
  assert.equal(p.rows.length, 20);
  p = L.pageOf(rows.slice(0, 10), 2, 50);  // fewer rows after a filter: back to the last page
  assert.equal(p.page, 0);
  assert.equal(p.rows.length, 10);
  p = L.pageOf([], 0, 50);
  assert.equal(p.pages, 1);
  assert.deepEqual(p.rows, []);
});

test('nextSort flips the sorted column and sorts another one ascending', () => {
  assert.deepEqual(L.nextSort({col: 0, dir: 1}, 0), {col: 0, dir: -1});
  assert.deepEqual(L.nextSort({col: 0, dir: -1}, 0), {col: 0, dir: 1});
  assert.deepEqual(L.nextSort({col: 0, dir: -1}, 3), {col: 3, dir: 1});
});

test('sortLabel marks the sorted column only', () => {
  assert.equal(L.sortLabel('number', 0, {col: 0, dir: 1}), 'number ▲');
  assert.equal(L.sortLabel('number', 0, {col: 0, dir: -1}), 'number ▼');
  assert.equal(L.sortLabel('state', 1, {col: 0, dir: 1}), 'state');
});

test('cellClass right-aligns numbers only', () => {
  assert.equal(L.cellClass(1.5), 'num');
  assert.equal(L.cellClass(0), 'num');
  assert.equal(L.cellClass('1.5'), '');
  assert.equal(L.cellClass(null), '');
});

test('stateOptions: "all states" first, then the given states in lower case', () => {
  assert.deepEqual(L.stateOptions(['COMPLETE', 'PRUNED']),
    [['', 'all states'], ['COMPLETE', 'complete'], ['PRUNED', 'pruned']]);
});

test('showsControls: live pages show all controls, a static report only the metric', () => {
  assert.equal(L.showsControls('contour', ['x'], false), true);
  assert.equal(L.showsControls('contour', ['x'], true), false);
  assert.equal(L.showsControls('curves', ['metric'], true), true);
  assert.equal(L.showsControls('history', undefined, false), false);
  assert.equal(L.showsControls('curves', undefined, true), false);
});

test('placeholderHeight: the timeline is taller', () => {
  assert.equal(L.placeholderHeight('timeline'), 480);
  assert.equal(L.placeholderHeight('history'), 380);
});

test('splitFirstScreen: on-screen panels first, the rest then the table', () => {
  const order = ['history', 'history_time', 'curves', 'timeline', 'parallel'];
  const {first, rest} = L.splitFirstScreen(order, p => p.startsWith('history') || p === 'curves');
  assert.deepEqual(first, ['history', 'history_time', 'curves']);
  assert.deepEqual(rest, ['timeline', 'parallel', 'table']);
  assert.deepEqual(L.splitFirstScreen(order, () => false).first, []);
  assert.deepEqual(L.splitFirstScreen([], () => true), {first: [], rest: ['table']});
});

test('promote moves a queued panel to the front, in place', () => {
  const q = ['parallel', 'slice', 'importance'];
  assert.equal(L.promote(q, 'importance'), q);
  assert.deepEqual(q, ['importance', 'parallel', 'slice']);
  L.promote(q, 'importance');  // already first
  assert.deepEqual(q, ['importance', 'parallel', 'slice']);
  L.promote(q, 'contour');  // drawn already, no longer queued
  assert.deepEqual(q, ['importance', 'parallel', 'slice']);
});

test('figureFor: a static report picks the curves of the chosen metric', () => {
  const figs = {curves: 'objective', 'curves:eval_loss': 'eval_loss', history: 'h', pareto: null};
  assert.equal(L.figureFor(figs, 'curves', 'eval_loss', true), 'eval_loss');
  assert.equal(L.figureFor(figs, 'curves', 'eval_loss', false), 'objective');
  assert.equal(L.figureFor(figs, 'curves', 'nope', true), 'objective');
  assert.equal(L.figureFor(figs, 'curves', '', true), 'objective');
  assert.equal(L.figureFor(figs, 'history', 'eval_loss', true), 'h');
  assert.equal(L.figureFor(figs, 'pareto', '', false), null);  // null: panel does not apply
  assert.equal(L.figureFor(figs, 'contour', '', false), undefined);  // not in this payload
});

test('prepareFigure keeps zoom across redraws and fills in the shared template', () => {
  const shared = {layout: {font: {size: 12}}};
  let fig = L.prepareFigure({data: [], layout: {}}, shared);
  assert.equal(fig.layout.uirevision, 'keep');
  assert.equal(fig.layout.template, shared);
  fig = L.prepareFigure({data: [], layout: {template: {}}}, shared);  // empty: replaced
  assert.equal(fig.layout.template, shared);
  const own = {layout: {font: {size: 9}}};
  fig = L.prepareFigure({data: [], layout: {template: own}}, shared);
  assert.equal(fig.layout.template, own);
  fig = L.prepareFigure({data: [], layout: {}}, undefined);
  assert.equal(fig.layout.template, undefined);
});

test('liveText: static report, off, or the poll interval', () => {
  assert.equal(L.liveText(true, 3), 'static report');
  assert.equal(L.liveText(false, 0), 'live updates off');
  assert.equal(L.liveText(undefined, 1), 'live · every 1 s');
});

test('logic.js is a browser script too: it defines HPOLogic on the global object', async () => {
  const {readFile} = await import('node:fs/promises');
  const vm = await import('node:vm');
  const src = await readFile(new URL('../../../hpo/dashboard/static/logic.js', import.meta.url), 'utf8');
  const win = {URL};
  win.self = win;
  vm.runInNewContext(src, win);
  assert.deepEqual(Object.keys(win.HPOLogic).sort(), Object.keys(L).sort());
  assert.equal(win.HPOLogic.fmt(0.5), '0.5');
});

test('zoneClock: 24-hour time in the given zone, labelled with its name', () => {
  const t = new Date(Date.UTC(2026, 11, 2, 18, 5, 9));
  assert.equal(L.zoneClock(t, 'UTC'), '18:05:09 UTC');
  assert.equal(L.zoneClock(t, 'Asia/Kolkata'), '23:35:09 Asia/Kolkata');
  assert.equal(L.zoneClock(new Date(Date.UTC(2026, 0, 1, 0, 0, 0)), 'America/New_York'), '19:00:00 America/New_York');
});

test('browserZone: an IANA name', () => {
  assert.match(L.browserZone(), /^[A-Za-z_]+(\/[A-Za-z_+-]+)*$/);
});

test('stateClass: trial states and study states with spaces', () => {
  assert.equal(L.stateClass('COMPLETE'), 's-COMPLETE');
  assert.equal(L.stateClass('time budget'), 's-time-budget');
});

test('errorText: the server\'s JSON error message, else the body as sent', () => {
  assert.equal(L.errorText(501, '{"error": "fanova needs scikit-learn"}'),
    'fanova needs scikit-learn (HTTP 501)');
  assert.equal(L.errorText(502, 'Bad Gateway'), 'Bad Gateway (HTTP 502)');
  assert.equal(L.errorText(500, '{"other": 1}'), '{"other": 1} (HTTP 500)');
});

test('choiceFailed: names what failed and what the selector kept', () => {
  assert.equal(L.choiceFailed('importance evaluator', 'fanova', 'ped-anova', 'needs sklearn'),
    'importance evaluator "fanova" failed: needs sklearn · back to "ped-anova"');
});

test('needsFullPlotly: only a partial bundle without a figure trace type loads the full one', () => {
  const partial = {traces: ['scatter', 'bar', 'contour'], full: '/static/plotly.min.js'};
  const parcoords = {data: [{type: 'parcoords'}]};
  assert.equal(L.needsFullPlotly({data: [{x: [1]}, {type: 'bar'}]}, partial), false);  // scatter by default
  assert.equal(L.needsFullPlotly(parcoords, partial), true);
  assert.equal(L.needsFullPlotly(parcoords, {}), false);  // the page has the full bundle
  assert.equal(L.needsFullPlotly(parcoords, {traces: ['scatter'], full: null}), false);  // report: nothing to load
  assert.equal(L.needsFullPlotly({data: []}, partial), false);
});
