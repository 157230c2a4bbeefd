"""Studies made for the dashboard's truthfulness tests, written as hpo's driver writes them.

- ``h17-queue``: complete and pruned trials, two enqueued (WAITING) and two failed as
  orphans 25 minutes after their driver's last heartbeat; the last run recorded its end.
- ``h17-two``: two completed trials, too few for importance, contour or slice.
- ``h17-killed``: the driver was killed mid-search (a run without an end, trials left
  RUNNING with a heartbeat long stale).
- ``h17-budget``: the last run was cut by its time budget.
- ``h17-short`` / ``h17-mid`` / ``h17-long``: three studies of 40 s, 20 min and 3 h.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from typing import Any

NOW = time.time()
START = NOW - 5 * 3600.0  # every study starts 5 h ago, in whole seconds
START = float(int(START))
DRIVER = "host-a:4242:abc123"
ORPHAN_REASON = ("orphaned: no heartbeat from its driver host-a:4242:abc123 for 1500 s "
                 "(bound 40 s); it ended without finishing the trial")


def _dt(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).replace(tzinfo=None)


def _curve(peak: float, steps: int, rng: random.Random) -> dict[int, float]:
    return {s: round(peak * (1 - 0.6 * 0.6 ** s) + rng.uniform(-0.004, 0.004), 6)
            for s in range(1, steps + 1)}


def _trial(state: str, params: dict[str, Any], ivs: dict[int, float], start: float,
           end: float | None, extra: dict[str, Any] | None = None) -> Any:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState

    from hpo.storage import attrs

    dists = {"lr": FloatDistribution(1e-5, 1e-1, log=True),
             "dropout": FloatDistribution(0.0, 0.5),
             "optimizer": CategoricalDistribution(["adamw", "sgd"])}
    ua: dict[str, Any] = {attrs.STEP: max(ivs) if ivs else 0, attrs.WORKER: "host-a:1",
                          attrs.DRIVER: DRIVER}
    for s, v in ivs.items():
        ua[attrs.metrics_key(s)] = {"accuracy": v, "eval_loss": round(1 - v, 6)}
    ua.update(extra or {})
    st = TrialState[state]
    value = max(ivs.values()) if st == TrialState.COMPLETE else None
    t = optuna.trial.create_trial(state=st, value=value, params=params,
                                  distributions=dists, user_attrs=ua,
                                  intermediate_values=ivs)
    t.datetime_start = _dt(start)
    t.datetime_complete = None if end is None else _dt(end)
    return t


def _params(rng: random.Random) -> dict[str, Any]:
    return {"lr": 10 ** rng.uniform(-5, -1), "dropout": rng.uniform(0, 0.5),
            "optimizer": rng.choice(["adamw", "sgd"])}


def _study(url: str, name: str, runs: list[dict[str, Any]]) -> Any:
    import optuna

    from hpo.storage import attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    study.set_user_attr(attrs.METRIC, "accuracy")
    study.set_user_attr(attrs.DIRECTION, "maximize")
    study.set_user_attr(attrs.METRIC_NAMES, ["accuracy", "eval_loss"])
    study.set_user_attr(attrs.RUNS, runs)
    return study


def _run(end: str | None = None, note: str = "") -> dict[str, Any]:
    rec: dict[str, Any] = {"run": 0, "seed": 1, "base_seed": 1, "driver": DRIVER,
                           "started": START}
    if end is not None:
        rec.update(end=end, note=note, ended=START + 3600)
    return rec


def _pruned(ivs: dict[int, float], by: str = "asha", reason: str | None = None) -> dict:
    from hpo.storage import attrs

    step = max(ivs)
    return {attrs.STOP: {"by": by, "rung": step, "score": ivs[step],
                         "cutoff": ivs[step] + 0.01,
                         "reason": reason or f"at step {step} its accuracy {ivs[step]:.4g} "
                                             f"was below the cutoff {ivs[step] + 0.01:.4g}"}}


def build_cases(url: str) -> None:
    """Write every case study into the (new) storage ``url``."""
    from hpo.storage import attrs

    rng = random.Random(17)
    # WAITING and orphans; 6 complete, 4 pruned, 2 orphans, 2 enqueued.
    study = _study(url, "h17-queue", [_run("completed", "trial budget of 12 trials used")])
    trials = []
    for i in range(10):
        steps = 6 if i % 5 < 3 else 2
        ivs = _curve(0.9 + 0.01 * (i % 3), steps, rng)
        t0 = START + 60 * i
        trials.append(_trial("COMPLETE" if steps == 6 else "PRUNED", _params(rng), ivs, t0,
                             t0 + 10 * steps, None if steps == 6 else _pruned(ivs)))
    for i in range(2):  # ran 30 s, then the driver died; failed 25 min later as orphans
        t0 = START + 700 + 5 * i
        ivs = _curve(0.85, 3, rng)
        trials.append(_trial("FAIL", _params(rng), ivs, t0, t0 + 30 + 1500, {
            attrs.ORPHANED: True, attrs.FAIL_REASON: ORPHAN_REASON,
            attrs.HEARTBEAT: t0 + 30, attrs.STALE_AFTER: 40.0}))
    study.add_trials(trials)
    study.enqueue_trial({"lr": 1e-3, "dropout": 0.1, "optimizer": "adamw"})
    study.enqueue_trial({"lr": 2e-3, "dropout": 0.2, "optimizer": "sgd"})

    # Two trials only.
    study = _study(url, "h17-two", [_run("completed", "trial budget of 2 trials used")])
    study.add_trials([_trial("COMPLETE", _params(rng), {1: 0.975, 2: 0.9755}, START, START + 20),
                      _trial("COMPLETE", _params(rng), {1: 0.972, 2: 0.978}, START + 30,
                             START + 50)])

    # Killed mid-search: no end recorded, two trials RUNNING, silent for 10 minutes.
    study = _study(url, "h17-killed", [_run()])
    trials = [_trial("COMPLETE", _params(rng), _curve(0.9, 4, rng), START + 30 * i,
                     START + 30 * i + 20) for i in range(6)]
    for i in range(2):
        t0 = NOW - 900 + i
        trials.append(_trial("RUNNING", _params(rng), _curve(0.88, 2, rng), t0, None, {
            attrs.HEARTBEAT: NOW - 600, attrs.STALE_AFTER: 40.0}))
    study.add_trials(trials)

    # Cut by its time budget.
    study = _study(url, "h17-budget", [_run("time_budget", "time budget of 60 s reached")])
    study.add_trials([_trial("COMPLETE", _params(rng), _curve(0.9, 4, rng), START + 15 * i,
                             START + 15 * i + 10) for i in range(5)])

    # Three studies of different lengths for the comparison.
    for name, n, span in (("h17-short", 6, 40.0), ("h17-mid", 12, 1200.0),
                          ("h17-long", 20, 3 * 3600.0)):
        study = _study(url, name, [_run("completed", f"trial budget of {n} trials used")])
        each = span / n
        trials = []
        for i in range(n):
            steps = 8 if i % 2 == 0 else 3
            peak = 0.8 + 0.15 * (1 - math.exp(-i / 4)) + (0.02 if name == "h17-long" else 0)
            ivs = _curve(peak, steps, rng)
            t0 = START + each * i
            trials.append(_trial("COMPLETE" if steps == 8 else "PRUNED", _params(rng), ivs,
                                 t0, t0 + each * 0.9, None if steps == 8 else _pruned(ivs)))
        study.add_trials(trials)
