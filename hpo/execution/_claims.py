"""The study's trial budget, shared by every driver: what counts, and claiming a trial.

A study's budget (``--trials``) counts every finished trial except those failed
because their driver died (their place is run again) and those carried over from
another study by ``hpo run --widen`` (never run here), plus every trial running
now, whichever driver runs it. Claiming a trial counts what the study has used and
asks Optuna for one more (``study.ask``, which hands out enqueued trials first) as
one step under the study lock, so the budget is exact however many drivers share
the study, and trial numbers stay unique.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpo.storage import attrs

if TYPE_CHECKING:
    import optuna

    from hpo.execution._study_lock import StudyLock


def uses_budget(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts toward the budget: finished (see :func:`counts_as_done`)
    or running now."""
    from optuna.trial import TrialState

    return t.state == TrialState.RUNNING or counts_as_done(t)


def counts_as_done(t: optuna.trial.FrozenTrial) -> bool:
    """COMPLETE, PRUNED, or FAIL for a reason of its own (not an orphan), and run in this
    study (not carried over from another by ``hpo run --widen``)."""
    from optuna.trial import TrialState

    if t.user_attrs.get(attrs.CARRIED):
        return False
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return t.state == TrialState.FAIL and not t.user_attrs.get(attrs.ORPHANED)


def claim_trial(study: optuna.Study, lock: StudyLock, total: int) -> optuna.Trial | None:
    """A new RUNNING trial of ``study``, or None when ``total`` trials are used."""
    from hpo.storage._retry import retry

    def claim() -> optuna.Trial | None:
        with lock.held():
            # Through the study's cached storage: only unfinished trials are re-read.
            trials = study.get_trials(deepcopy=False)
            if sum(1 for t in trials if uses_budget(t)) >= total:
                return None
            return study.ask()

    # Through a store outage: the count and the ask are repeated together, under the
    # lock, so a retried claim is still exact.
    return retry(claim, f"claiming a trial of study {study.study_name!r}")
