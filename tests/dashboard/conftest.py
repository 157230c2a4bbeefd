"""Small synthetic hpo studies in a temporary SQLite store, written through Optuna's API."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

# Relative to now so the running trial looks like a live one (tests pass ``now`` explicitly).
T0 = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) - dt.timedelta(hours=1)


def add_hpo_study(url: str, name: str, n: int = 24, seed: int = 0, lr_peak: float = 3e-5,
                  running: int = 1, directions: tuple[str, ...] = ("maximize",),
                  metric_names: bool = False) -> None:
    """Write an hpo-style study: ASHA stops, metrics per step, workers, a failure, running
    (``metric_names``: with the study attribute of metric names, as hpo writes today)."""
    import optuna
    from optuna.distributions import CategoricalDistribution as Cat
    from optuna.distributions import FloatDistribution as Float
    from optuna.trial import TrialState

    from hpo.storage import attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    study = optuna.create_study(study_name=name, storage=url, directions=list(directions))
    multi = len(directions) > 1
    study.set_user_attr(attrs.METRIC, ["accuracy", "latency_ms"] if multi else "accuracy")
    study.set_user_attr(attrs.DIRECTION, directions[0])
    study.set_user_attr(attrs.MODEL, {"name": f"{name.split('-')[0]}-base"})
    study.set_user_attr(attrs.DATA, {"name": "glue/sst2"})
    if metric_names:
        study.set_user_attr(attrs.METRIC_NAMES,
                            ["accuracy", "eval_loss", "time_total_s", "train_loss"])
    dists = {"learning_rate": Float(1e-6, 1e-2, log=True), "dropout": Float(0.0, 0.5),
             "optimizer": Cat(["adamw", "sgd"])}
    trials = []
    for i in range(n):
        p = {"learning_rate": 10 ** rng.uniform(-6, -2), "dropout": rng.uniform(0, 0.5),
             "optimizer": rng.choice(["adamw", "sgd"])}
        q = 0.95 - 0.05 * abs(__import__("math").log10(p["learning_rate"] / lr_peak)) \
            - 0.03 * (p["optimizer"] == "sgd")
        last = 8 if i % 3 == 0 or multi else (2 if i % 3 == 1 else 4)
        state = TrialState.COMPLETE if last == 8 else TrialState.PRUNED
        if i == 5 and not multi:
            state, last = TrialState.FAIL, 3
        if i >= n - running:
            state, last = TrialState.RUNNING, 2
        ivs, ua = {}, {}
        for s in range(1, last + 1):
            acc = round(q * (1 - 0.5 * 0.7 ** s), 6)
            ivs[s] = acc
            ua[attrs.metrics_key(s)] = {"accuracy": acc, "eval_loss": round(1.2 - acc, 6),
                                        "train_loss": round(1.3 - acc * 1.1, 6),
                                        "time_total_s": 10.0 * s}
        ua[attrs.STEP] = last
        ua[attrs.WORKER] = f"node{i % 2}:{100 + i % 4}"
        if state == TrialState.PRUNED:
            ua[attrs.STOP] = {"by": "asha", "rung": last, "score": ivs[last],
                              "cutoff": ivs[last] + 0.02, "reason": "below the rung cutoff"}
        if state == TrialState.FAIL:
            ua[attrs.FAIL_REASON] = "CUDA out of memory"
        if state == TrialState.RUNNING:
            # A live driver's stamps, with a bound long enough to outlast the test session.
            ua[attrs.HEARTBEAT] = __import__("time").time()
            ua[attrs.STALE_AFTER] = 3600.0
        values = None
        if state == TrialState.COMPLETE:
            values = [max(ivs.values())] + ([rng.uniform(5, 50)] if multi else [])
        start = T0 + dt.timedelta(minutes=10 * (i // 4) + i % 4)
        trial = optuna.trial.create_trial(
            state=state, values=values, params=p, distributions=dists, user_attrs=ua,
            intermediate_values=ivs)
        trial.datetime_start = start
        trial.datetime_complete = None if state == TrialState.RUNNING else \
            start + dt.timedelta(minutes=last)
        trials.append(trial)
    study.add_trials(trials)


def build_store(path: Path) -> str:
    """Create the test store at ``path``; returns its URL."""
    import optuna

    url = f"sqlite:///{path}"
    add_hpo_study(url, "bert-sst2", n=24, seed=1)
    add_hpo_study(url, "roberta-sst2", n=18, seed=2, lr_peak=1e-4, running=0,
                  metric_names=True)
    add_hpo_study(url, "multi-obj", n=12, seed=3, running=0,
                  directions=("maximize", "minimize"))
    optuna.create_study(study_name="empty", storage=url)
    return url


@pytest.fixture(scope="session")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a read-only shared test store (tests that write make their own)."""
    return build_store(tmp_path_factory.mktemp("dash") / "hpo.db")


@pytest.fixture(scope="session")
def store(store_url: str):
    """A :class:`~hpo.results.Store` over the shared test store."""
    from hpo.results import Store

    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def cases_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a store of the case studies in ``_cases`` (WAITING and orphans, two trials,
    a killed driver, a time budget, three studies of different lengths)."""
    from tests.dashboard._cases import build_cases

    url = f"sqlite:///{tmp_path_factory.mktemp('cases') / 'hpo.db'}"
    build_cases(url)
    return url


@pytest.fixture(scope="session")
def cases(cases_url: str):
    """A :class:`~hpo.results.Store` over the case studies."""
    from hpo.results import Store

    s = Store(cases_url)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through playwright (never a downloaded browser)."""
    from tests.dashboard.test_browser import ARGS, CHROMIUM

    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="python package 'playwright' not installed")
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that collects console errors and page errors in ``page.errors``."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    ctx.close()
