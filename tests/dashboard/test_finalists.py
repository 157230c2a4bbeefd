"""The study page shows what `hpo finalize` and `hpo export` recorded (issue: ship the
config): every finalist's mean and 95 % interval, the pick, and the exported config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hpo.shipping import keys

FINALIZE = {
    "study": "ship-finalize", "pick_by": "lower", "seeds": [0, 1, 2], "top_k": 2,
    "direction": "maximize", "picked": 3, "selection": {"size": 200}, "optimism": 0.0125,
    "finished_at": 1.8e9,
    "candidates": [
        {"trial": 1, "params": {"lr": 3e-4}, "search_score": 0.81, "n": 3, "mean": 0.77,
         "std": 0.03, "low": 0.70, "high": 0.84, "scores": [0.74, 0.77, 0.80],
         "finalize_trials": [0, 1, 2]},
        {"trial": 3, "params": {"lr": 1e-4}, "search_score": 0.80, "n": 3, "mean": 0.7875,
         "std": 0.005, "low": 0.775, "high": 0.80, "scores": [0.78, 0.79, 0.79],
         "finalize_trials": [3, 4, 5]},
    ],
}
EXPORT = {"path": "/tmp/best.yaml", "format": "yaml", "trial": 3, "source": "finalize",
          "written_at": 1.8e9}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import optuna

    from hpo.results import Store

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path_factory.mktemp('ship') / 'hpo.db'}"
    for name, attrs in (("ship", {keys.FINALIZE: FINALIZE, keys.EXPORT: EXPORT}),
                        ("plain", {})):
        study = optuna.create_study(study_name=name, storage=url, direction="maximize")
        for k, v in attrs.items():
            study.set_user_attr(k, v)
        for i in range(4):
            study.enqueue_trial({"lr": 1e-4 * (i + 1)})
            trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-5, 1e-3)})
            study.tell(trial, 0.7 + i / 100)
    store = Store(url)
    yield store
    store.close()


def test_the_study_payload_carries_the_finalize_and_export_records(shipped: Any) -> None:
    from hpo.dashboard._views import Views

    views = Views(shipped)
    head = json.loads(views.study("ship", [], {}))
    assert head["finalize"]["picked"] == 3 and len(head["finalize"]["candidates"]) == 2
    assert head["export"]["path"] == "/tmp/best.yaml"
    plain = json.loads(views.study("plain", [], {}))
    assert plain["finalize"] is None and plain["export"] is None


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing")
def test_the_study_page_shows_finalists_and_the_exported_config(shipped: Any, page: Any,
                                                                 tmp_path: Path) -> None:
    from tests.dashboard.test_browser import _open, serving

    with serving(shipped) as srv:
        _open(page, srv.url + "study/ship")
        box = page.locator("#panel-finalists")
        assert box.is_visible()
        text = box.inner_text()
        assert "re-run over 3 seed(s) in ship-finalize" in text
        assert "lower bound" in text and "optimism" in text
        rows = box.locator("table.finalists tr")
        assert rows.count() == 3  # header + two finalists
        picked = box.locator("tr.picked")
        assert picked.count() == 1 and "picked" in picked.inner_text()
        assert "[0.775, 0.8]" in picked.inner_text().replace("0.800", "0.8")
        assert "exported: trial 3 (finalize) to /tmp/best.yaml as yaml" in text
        page.screenshot(path=str(tmp_path / "finalists.png"), full_page=True)
        _open(page, srv.url + "study/plain")
        assert not page.locator("#panel-finalists").is_visible()
        assert page.errors == []
