"""After a search: the best trial's config retrained and scored once on the test split."""

from __future__ import annotations

import time
from typing import Any

from hpo.spaces import SearchSpec


def score_best(spec: SearchSpec, trainable: Any, study: Any,
                progress: bool) -> dict[str, Any] | None:
    """Retrain the best trial and score it once on the test split (see ``run_search``)."""
    import sys

    from hpo.execution._placement import usable_cpus
    from hpo.execution._runs import trial_seed
    from hpo.spaces import config_from_params
    from hpo.storage import attrs
    from hpo.trainables._base import score_test_of

    scorer = score_test_of(trainable)
    if scorer is None:
        return None
    try:
        best = study.best_trial
    except ValueError:
        return None
    done = study.user_attrs.get(attrs.TEST)
    if isinstance(done, dict) and done.get("trial") == best.number:
        return done
    config = config_from_params(spec, best.params)
    seed = int(config.get("seed", trial_seed(study.study_name, best.number)))
    step = int(best.user_attrs.get(attrs.BEST_STEP) or best.user_attrs.get(attrs.STEP) or 1)
    # The search is over, so the retrain takes every CPU the driver may use: at the
    # trial's thread count the rest sat idle (178-262 s after a 600 s search), and two
    # threads scored the same as one. A ``threads`` the space fixes is the config's own.
    threads = max(1, int(config.get("threads") or usable_cpus()))
    if progress:
        print(f"scoring the best trial ({best.number}) on the test split: retraining it "
              f"with seed {seed} up to step {step} on {threads} thread(s)", file=sys.stderr,
              flush=True)
    t0 = time.time()
    metrics = scorer(config, spec.model, spec.data, seed=seed, step=step, threads=threads)
    record = {"trial": best.number, "step": step, "seed": seed, "threads": threads,
              "metrics": metrics, "seconds": round(time.time() - t0, 1)}
    study.set_user_attr(attrs.TEST, record)
    return record
