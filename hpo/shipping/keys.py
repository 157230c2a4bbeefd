"""Store attributes written by ``hpo finalize``, ``hpo export`` and ``hpo run --warm-start``.

They follow the contract of :mod:`hpo.storage.attrs` (Optuna user attributes, nothing
added to Optuna's schema); ``docs/shipping.md`` describes each value's form, which
readers (the dashboard, a user's own code) may rely on.

Search study attributes:
    FINALIZE: the latest finalize of the study: ``{"study", "pick_by", "seeds",
        "top_k", "picked", "selection", "candidates", "optimism", "finished_at"}``;
        each candidate is ``{"trial", "params", "search_score", "n", "mean", "std",
        "low", "high", "scores", "finalize_trials"}``, in search-score order. While a
        finalize runs, ``"running"`` is added to the earlier finished record.
    EXPORT: the latest bundle exported from the study: ``{"path", "format", "trial",
        "source", "written_at"}``.

Finalize study attributes (the study named ``<study>-finalize``):
    FINALIZE_OF: the search study's name (the link back).

Finalize trial attributes:
    CANDIDATE: the search trial number whose config this trial re-runs.
    SEED: the seed it re-runs with.

Warm-started trial attributes:
    WARM_START: ``{"study", "trial", "value", "dropped"}``: where the config came from
        and every parameter left out, with why (``{"name": "reason"}``).
"""

from __future__ import annotations

FINALIZE = "hpo:finalize"
EXPORT = "hpo:export"
FINALIZE_OF = "hpo:finalize_of"
CANDIDATE = "hpo:candidate"
SEED = "hpo:finalize_seed"
WARM_START = "hpo:warm_start"

#: The finalize study of search study ``name``.
FINALIZE_SUFFIX = "-finalize"


def finalize_study_name(name: str) -> str:
    return f"{name}{FINALIZE_SUFFIX}"
