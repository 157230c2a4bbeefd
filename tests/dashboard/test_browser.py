"""The dashboard in Debian's headless Chromium: pages load cleanly, plots draw, links work."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("HPO_DASHBOARD_SHOTS", "hpo-results/dashboard-screenshots"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} missing: apt-get install -y chromium"),
]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="python package 'playwright' not installed")


@contextlib.contextmanager
def serving(store):
    """A dashboard server over ``store`` on a free loopback port, in a thread."""
    from hpo.dashboard._server import DashboardServer

    srv = DashboardServer(store, "127.0.0.1", 0, refresh_s=1.0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def server(store):
    with serving(store) as srv:
        yield srv


# The browser and page fixtures live in conftest.py (shared with test_browser_truthful).


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.hpoReady === true", timeout=20000)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _drawn_marks(page, selector: str) -> int:
    """Count drawn marks (SVG points/paths/bars, or WebGL canvases) in a plot."""
    return page.evaluate(
        """sel => { const el = document.querySelector(sel); if (!el) return -1;
        const svg = el.querySelectorAll('.scatterlayer .point, .scatterlayer .js-line,'
          + ' .barlayer .point path, .contourlayer path, .parcoords .line, g.trace path').length;
        const gl = el._fullData ? el._fullData.filter(t => (t.type.endsWith('gl')
          || t.type === 'parcoords')
          && t.visible !== false).length : 0;
        const glCanvas = el.querySelectorAll('canvas').length;
        return svg + (gl && glCanvas ? gl : 0); }""", selector)


def test_studies_list_loads_and_links_to_study(server, page):
    _open(page, server.url)
    assert page.locator("tbody tr").count() == 4
    assert "bert-sst2" in page.inner_text("tbody")
    _shot(page, "studies")
    page.click("text=bert-sst2")
    page.wait_for_function("() => window.hpoReady === true")
    assert page.url.endswith("/study/bert-sst2")
    assert page.errors == []


STUDY_PLOTS = ("history", "history_time", "curves", "timeline", "parallel", "importance",
               "slice", "contour")


def test_study_page_draws_every_plot(server, page):
    _open(page, server.url + "study/bert-sst2")
    # On-screen panels were fetched and drawn first, the rest after them.
    timings = page.evaluate("() => window.hpoTimings")
    assert page.evaluate("() => window.hpoFirstScreen") is True
    assert timings["first_panels"].split() == ["history", "history_time", "curves"]
    for p in STUDY_PLOTS:
        assert _drawn_marks(page, f"#plot-{p}") > 0, p
    assert not page.is_visible("#panel-pareto")  # single objective: no Pareto panel
    assert page.locator("#panel-table tbody tr").count() == 24
    _shot(page, "study")
    page.select_option("select[aria-label=metric]", "eval_loss")
    page.wait_for_function(
        "() => document.querySelector('#plot-curves').layout.title.text.includes('eval_loss')")
    page.click("#panel-table th:has-text('duration_s')")
    assert page.errors == []


def test_page_starts_with_the_cartesian_bundle_and_loads_the_full_one_for_parcoords(
        server, page):
    from hpo.dashboard import _plotlyjs

    assert _plotlyjs.cartesian() is not None  # the vendored bundle matches plotly's
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url.rsplit("/", 1)[-1])
            if "plotly" in r.url else None)
    _open(page, server.url + "study/bert-sst2")
    assert loaded == [_plotlyjs.CARTESIAN_FILE]
    for p in STUDY_PLOTS:  # every default panel draws with the partial bundle
        assert _drawn_marks(page, f"#plot-{p}") > 0, p
    page.select_option("select[aria-label='parallel style']", "interactive")
    page.wait_for_function("() => document.querySelector('#plot-parallel')._fullData"
                           "?.[0]?.type === 'parcoords'", timeout=20000)
    assert loaded == [_plotlyjs.CARTESIAN_FILE, "plotly.min.js"]
    assert _drawn_marks(page, "#plot-parallel") > 0
    # Back to lines, and another panel redrawn after the switch: both bundles coexist.
    page.select_option("select[aria-label='parallel style']", "")
    page.wait_for_function("() => document.querySelector('#plot-parallel')._fullData"
                           "?.[0]?.type === 'scatter'", timeout=20000)
    page.select_option("select[aria-label=metric]", "eval_loss")
    page.wait_for_function(
        "() => document.querySelector('#plot-curves').layout.title.text.includes('eval_loss')")
    assert _drawn_marks(page, "#plot-parallel") > 0 and _drawn_marks(page, "#plot-curves") > 0
    assert page.locator(".panel-error").count() == 0
    assert page.errors == []


def test_panel_scrolled_into_view_is_drawn_first(server, page):
    # Scrolled to the bottom before the rest is drawn: the importance panel jumps the queue.
    page.goto(server.url + "study/bert-sst2")
    page.wait_for_function("() => window.hpoFirstScreen === true", timeout=20000)
    page.evaluate("() => document.getElementById('panel-importance').scrollIntoView()")
    page.wait_for_function("() => window.hpoReady === true", timeout=20000)
    assert _drawn_marks(page, "#plot-importance") > 0
    assert page.errors == []


def test_bundled_curves_draw(store, tmp_path, browser, monkeypatch):
    # Many curves of one state are one path shape: it draws, and its legend entry shows.
    from hpo.dashboard import _figures
    from hpo.dashboard._report import render_report

    monkeypatch.setattr(_figures, "MAX_LINES", 3)
    out = tmp_path / "report.html"
    out.write_text(render_report(store, "bert-sst2"), encoding="utf-8")
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(out.as_uri())
    pg.wait_for_function("() => window.hpoReady === true", timeout=20000)
    assert pg.locator("#plot-curves .shapelayer path").count() >= 1
    assert "pruned (14)" in pg.evaluate(
        "() => document.querySelector('#plot-curves .legend').textContent")
    _shot(pg, "bundled-curves")
    assert errors == []
    pg.close()


def test_multi_objective_study_shows_pareto(server, page):
    _open(page, server.url + "study/multi-obj")
    assert _drawn_marks(page, "#plot-pareto") > 0
    _shot(page, "multi-objective")
    assert page.errors == []


def test_compare_from_studies_list(server, page):
    _open(page, server.url)
    page.check("input[aria-label='select bert-sst2']")
    page.check("input[aria-label='select roberta-sst2']")
    page.click("#compare-btn")
    page.wait_for_function("() => window.hpoReady === true")
    assert "/compare?" in page.url
    for p in ("best_vs_time", "best_vs_compute", "importance"):
        assert _drawn_marks(page, f"#plot-{p}") > 0, p
    assert page.locator("#panel-best_configs tr.differs").count() >= 3
    _shot(page, "compare")
    assert page.errors == []


def test_empty_study_page_has_no_errors(server, page):
    _open(page, server.url + "study/empty")
    assert "No finished trial with a value yet" in page.inner_text("#panel-history")
    assert page.errors == []


def test_static_report_works_offline(store, tmp_path, browser):
    from hpo.dashboard._report import render_report

    out = tmp_path / "report.html"
    out.write_text(render_report(store, "bert-sst2"), encoding="utf-8")
    ctx = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(out.as_uri())
    pg.wait_for_function("() => window.hpoReady === true", timeout=20000)
    assert _drawn_marks(pg, "#plot-curves") > 0
    pg.select_option("select[aria-label=metric]", "train_loss")
    pg.wait_for_function(
        "() => document.querySelector('#plot-curves').layout.title.text.includes('train_loss')")
    _shot(pg, "report")
    assert errors == []
    ctx.close()


def test_bundled_history_marks_draw(store, tmp_path, browser, monkeypatch):
    # Many pruned trials in the history are one path of dashes on both axes (number, date).
    from hpo.dashboard import _figures
    from hpo.dashboard._report import render_report

    monkeypatch.setattr(_figures, "MAX_MARKS", 3)
    out = tmp_path / "report.html"
    out.write_text(render_report(store, "bert-sst2"), encoding="utf-8")
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(out.as_uri())
    pg.wait_for_function("() => window.hpoReady === true", timeout=20000)
    for plot in ("#plot-history", "#plot-history_time"):
        d = pg.eval_on_selector(f"{plot} .shapelayer path", "e => e.getAttribute('d')")
        assert 1 <= d.count("M") <= 14 and "NaN" not in d, (plot, d[:200])
        assert "pruned at the value reached (14)" in pg.evaluate(
            f"() => document.querySelector('{plot} .legend').textContent")
    _shot(pg, "bundled-history")
    assert errors == []
    pg.close()
