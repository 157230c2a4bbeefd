"""The plotly.js bundles a page loads (hpo/dashboard/_plotlyjs.py)."""

from __future__ import annotations

import json

from hpo.dashboard import _pages, _plotlyjs


def test_vendored_cartesian_bundle_is_the_installed_plotlys_version():
    # Canary: a plotly upgrade ships another plotly.js; rerun
    # scripts/vendor_plotly_cartesian.sh (until then pages fall back to the full bundle).
    full = _plotlyjs.version_of(_plotlyjs.full())
    text = _plotlyjs.cartesian()
    assert full is not None and text is not None
    assert _plotlyjs.version_of(text) == full
    assert len(text) < len(_plotlyjs.full()) / 2


def test_version_of_reads_both_headers():
    assert _plotlyjs.version_of("/**\n* plotly.js v4.1.1\n* Copyright") == "4.1.1"
    assert _plotlyjs.version_of("/**\n* plotly.js (cartesian - minified) v3.0.2\n") == "3.0.2"
    assert _plotlyjs.version_of("var x = 1;") is None


def test_a_mismatched_bundle_falls_back_to_the_full_one(monkeypatch, caplog):
    monkeypatch.setattr(_plotlyjs, "full", lambda: "/**\n* plotly.js v99.0.0\n*/")
    _plotlyjs.cartesian.cache_clear()
    try:
        assert _plotlyjs.cartesian() is None
        assert "plotly.js 99.0.0" in caplog.text
        html = _pages.page("t", {"page": "studies"}, "/static/")
        assert 'src="/static/plotly.min.js"' in html and _plotlyjs.CARTESIAN_FILE not in html
        assert '"plotly": {}' in html
    finally:
        _plotlyjs.cartesian.cache_clear()


def test_server_pages_start_with_the_cartesian_bundle():
    html = _pages.page("t", {"page": "studies"}, "/static/")
    assert f'src="/static/{_plotlyjs.CARTESIAN_FILE}"' in html
    cfg = json.loads(html.split("window.HPO=", 1)[1].split(";</script>", 1)[0])
    assert cfg["plotly"] == {"traces": list(_plotlyjs.CARTESIAN_TRACES),
                             "full": "/static/plotly.min.js"}


def test_needs_full_only_for_trace_types_the_bundle_lacks():
    assert not _plotlyjs.needs_full([{"data": [{"x": [1]}, {"type": "contour"}]}, None])
    assert _plotlyjs.needs_full([{"data": [{"type": "bar"}]}, {"data": [{"type": "parcoords"}]}])
    assert not _plotlyjs.needs_full([])
