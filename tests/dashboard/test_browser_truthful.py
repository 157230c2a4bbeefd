"""In headless Chromium, on studies made for the purpose: every count, state, axis and panel
tells the truth (WAITING and orphans, two trials, a killed driver, a time budget, a
comparison of three studies of different lengths, an evaluator whose package is missing).
Screenshots of every page go to ``$HPO_DASHBOARD_SHOTS`` (``truthful-*.png``)."""

from __future__ import annotations

import datetime as dt
import re
import sys

import pytest

from tests.dashboard.test_browser import CHROMIUM, _drawn_marks, _open, _shot, serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} missing: apt-get install -y chromium"),
]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="python package 'playwright' not installed")


@pytest.fixture(scope="module")
def server(cases):
    with serving(cases) as srv:
        yield srv


def _rows(page) -> dict[str, list[str]]:
    """The studies list as {study: [cell texts]}."""
    cells = page.evaluate("""() => [...document.querySelectorAll('tbody tr')].map(
        tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()))""")
    return {r[1]: r for r in cells}


def _fig(page, panel: str) -> dict:
    return page.evaluate(f"""() => {{ const d = document.querySelector('#plot-{panel}');
        return {{title: d.layout.title.text, traces: d._fullData.map(t => ({{name: t.name,
        n: t.x ? t.x.length : 0, visible: t.visible}})),
        annotations: (d.layout.annotations || []).map(a => a.text),
        xtitle: d.layout.xaxis && d.layout.xaxis.title ? d.layout.xaxis.title.text : '',
        xrange: d._fullLayout.xaxis.range, yrange: d._fullLayout.yaxis.range}}; }}""")


def test_studies_list_counts_and_states_agree_with_the_store(server, page, cases):
    from hpo import results

    _open(page, server.url)
    rows = _rows(page)
    _shot(page, "truthful-studies")
    for name in cases.study_names():
        s = results.summarize(cases.snapshot(name))
        cols = rows[name]
        # study, state, why, trials, by state: the counts in words add up to the trials.
        assert cols[2] == s.state and cols[4] == str(s.n_trials)
        words = dict((state, int(n)) for n, state in re.findall(r"(\d+) (\w+)", cols[5]))
        assert sum(words.values()) == s.n_trials, (name, cols[5])
        assert words == {k.lower(): v for k, v in s.counts.items() if v}
    assert rows["h17-queue"][5] == "6 complete, 4 pruned, 2 fail, 2 waiting"
    assert rows["h17-killed"][2] == "crashed" and "no heartbeat" in rows["h17-killed"][3]
    assert rows["h17-budget"][2] == "time budget"
    assert rows["h17-short"][2] == "completed"
    assert page.errors == []


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "UTC"])
def test_one_time_zone_the_browsers_labelled(server, browser, tz):
    """The header clock and the timeline's axis and notes read the browser's zone, named.
    (Tokyo: +09:00 all year, and Chromium reports it by its canonical name, as it does not
    for Kolkata, which it calls Asia/Calcutta.)"""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id=tz)
    page = ctx.new_page()
    try:
        _open(page, server.url + "study/h17-queue")
        page.wait_for_function(
            "() => document.getElementById('live').textContent.includes('updated')",
            timeout=10000)
        text = page.inner_text("#live")
        stamp = re.search(r"(\d\d):(\d\d):(\d\d) " + re.escape(tz), text)
        assert stamp, text
        now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=9 if tz != "UTC" else 0)
        shown = now.replace(hour=int(stamp[1]), minute=int(stamp[2]), second=int(stamp[3]))
        assert abs((now - shown).total_seconds()) < 30
        label = "Asia/Tokyo, UTC+09:00" if tz != "UTC" else "UTC"
        assert page.evaluate("() => document.querySelector('#plot-timeline')"
                             ".layout.xaxis2.title.text") == f"time ({label})"
        # Bars are drawn on the zone's clock: the earliest one starts at the first trial's
        # start shifted by the zone's offset (plotly reads the numbers as UTC).
        first = min(r.start for r in server.store.snapshot("h17-queue").trials if r.start)
        left = page.evaluate("""() => Math.min(...document.querySelector('#plot-timeline')
            ._fullData.filter(t => t.mode === 'lines' && t.name !== 'trials running')
            .flatMap(t => Array.from(t.x)).filter(Number.isFinite))""")
        offset = 9 * 3600 if tz != "UTC" else 0.0
        assert left / 1000 == pytest.approx(first + offset, abs=1e-3)
        notes = page.evaluate("""() => document.querySelector('#plot-timeline')._fullData
            .filter(t => t.mode === 'markers' && t.text).flatMap(t => Array.from(t.text))""")
        orphan = [n for n in notes if "drawn to its last heartbeat" in n]
        assert orphan and all(re.search(r"\d\d:\d\d:\d\d " + re.escape(tz), n) for n in orphan)
        if tz != "UTC":
            _shot(page, "truthful-timeline-tokyo")
    finally:
        ctx.close()


def test_history_shows_every_finished_trial(server, page):
    _open(page, server.url + "study/h17-queue")
    _shot(page, "truthful-study-queue")
    fig = _fig(page, "history")
    names = {t["name"]: t["n"] for t in fig["traces"]}
    # 6 complete, 4 pruned and 2 orphans (failed at the value they last reported).
    assert names["complete (6)"] == 6
    assert names["pruned at the value reached (4)"] == 4
    assert names["fail at the value reached (2)"] == 2
    assert "best so far (complete trials)" in names
    assert "12 finished trials" in fig["title"]
    assert fig["xrange"][0] <= 0 and fig["xrange"][1] >= 11  # every trial number in view
    # Toggle: a click on the legend entry hides the pruned trials and shows them again.
    legend = page.locator("#plot-history .legend .traces", has_text="pruned at the value")
    legend.click()
    page.wait_for_function("""() => document.querySelector('#plot-history')._fullData.find(
        t => t.name.startsWith('pruned')).visible === 'legendonly'""")
    legend.click()
    page.wait_for_function("""() => document.querySelector('#plot-history')._fullData.find(
        t => t.name.startsWith('pruned')).visible === true""")
    assert page.errors == []


def test_two_trial_study_refuses_confident_panels(server, page):
    _open(page, server.url + "study/h17-two")
    _shot(page, "truthful-study-two")
    for panel in ("importance", "contour", "slice"):
        text = " ".join(_fig(page, panel)["annotations"])
        assert "this study has 2" in text.replace("<br>", " "), panel
    hist = _fig(page, "history")
    assert "2 finished trials" in hist["title"]
    assert page.errors == []


def test_enough_trials_say_how_many_they_are_based_on(server, page):
    _open(page, server.url + "study/h17-long")
    for panel in ("importance", "contour", "slice"):
        assert "based on 10 completed trials" in _fig(page, panel)["title"], panel
    assert page.errors == []


def test_orphans_are_drawn_to_their_last_heartbeat(server, page):
    _open(page, server.url + "study/h17-queue")
    widths = page.evaluate("""() => { const d = document.querySelector('#plot-timeline');
        const t = d._fullData.find(t => t.name && t.name.startsWith('fail ('));
        const x = Array.from(t.x);
        const out = [];
        for (let i = 0; i + 1 < x.length; i += 3) out.push((x[i + 1] - x[i]) / 1000);
        return out; }""")
    assert widths == [30.0, 30.0]  # 30 s of running, not the 25 minutes until marked
    notes = page.evaluate("""() => document.querySelector('#plot-timeline')._fullData
        .filter(t => t.mode === 'markers' && t.text).flatMap(t => Array.from(t.text))""")
    orphan = [n for n in notes if "orphaned" in n]
    assert len(orphan) == 2 and all("drawn to its last heartbeat" in n for n in orphan)
    assert page.errors == []


def test_killed_study_page_says_crashed(server, page):
    _open(page, server.url + "study/h17-killed")
    _shot(page, "truthful-study-killed")
    cards = page.inner_text(".cards")
    assert "crashed" in cards and "no heartbeat for" in cards
    assert page.errors == []


def test_missing_evaluator_is_explained_and_the_choice_undone(server, page, monkeypatch):
    # scikit-learn absent (made so here when it is installed): fanova cannot run.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    _open(page, server.url + "study/h17-long")
    before = _fig(page, "importance")["title"]
    page.select_option("select[aria-label='importance evaluator']", "fanova")
    page.wait_for_selector("#panel-importance .panel-error")
    message = page.inner_text("#panel-importance .panel-error")
    assert "scikit-learn" in message and "pip install scikit-learn" in message
    assert "back to \"ped-anova\"" in message
    assert page.eval_on_selector("select[aria-label='importance evaluator']",
                                 "e => e.value") == "ped-anova"
    assert _fig(page, "importance")["title"] == before  # the chart of the kept choice
    _shot(page, "truthful-evaluator-missing")
    # The kept choice still works, and a working answer clears the message.
    page.select_option("select[aria-label='importance evaluator']", "ped-anova")
    page.wait_for_selector("#panel-importance .panel-error", state="detached")
    # Any other failing panel request is shown the same way: a metric the server refuses.
    page.evaluate("""() => { const s = document.querySelector("select[aria-label=metric]");
        s.append(new Option('no_such_metric', 'no_such_metric')); }""")
    page.select_option("select[aria-label=metric]", "no_such_metric")
    page.wait_for_selector("#panel-curves .panel-error")
    assert "no_such_metric" in page.inner_text("#panel-curves .panel-error")
    assert page.eval_on_selector("select[aria-label=metric]", "e => e.value") == "objective"
    errors = [e for e in page.errors if "Failed to load resource" not in e]
    assert errors == []


def test_table_notes_say_each_fact_once(server, page):
    _open(page, server.url + "study/h17-queue")
    notes = page.evaluate("""() => [...document.querySelectorAll('#panel-table td.note')]
        .map(td => td.innerText).filter(Boolean)""")
    assert notes
    for note in notes:
        sentences = [p.strip() for p in re.split(r"[:;]", note) if p.strip()]
        assert len(sentences) == len(set(sentences)), note
        assert note.count("at step") <= 1, note


def test_comparison_of_three_studies(server, page):
    _open(page, server.url + "compare?study=h17-short&study=h17-mid&study=h17-long")
    _shot(page, "truthful-compare")
    # 3 h is the longest: hours. Compute of the long one is 5.4 trial-hours.
    assert _fig(page, "best_vs_time")["xtitle"].endswith("(h)")
    assert _fig(page, "best_vs_compute")["xtitle"].endswith("(h)")
    trials = _fig(page, "best_vs_trials")
    assert trials["xtitle"] == "trials finished (any state)"
    curves = _fig(page, "curves")
    names = [t["name"] for t in curves["traces"]]
    for study in ("h17-short", "h17-mid", "h17-long"):
        assert f"{study}: median of trials" in names
        assert any(n.startswith(f"{study}: best trial") for n in names)
    assert _drawn_marks(page, "#plot-curves") > 0
    page.select_option("#panel-curves select[aria-label=metric]", "eval_loss")
    page.wait_for_function(
        "() => document.querySelector('#plot-curves').layout.title.text.includes('eval_loss')")
    assert page.errors == []


def test_short_comparison_is_in_seconds(server, page):
    _open(page, server.url + "compare?study=h17-short&study=h17-two")
    assert _fig(page, "best_vs_time")["xtitle"].endswith("(s)")
    _shot(page, "truthful-compare-short")
    assert page.errors == []
