"""The three hooks hpo plugs into Ray Tune: a searcher, a callback and a stopper.

None of them decides a trial's Optuna state; they pass facts to the
:class:`~hpo.execution._ledger.Ledger`, which does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.search import Searcher
from ray.tune.stopper import Stopper

from hpo.execution._ledger import WAIT, Ledger


class LedgerSearcher(Searcher):
    """Asks the Optuna study (through the ledger) for each new config."""

    def __init__(self, ledger: Ledger, metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self.ledger = ledger

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        return True

    # Ray annotates dict | None but documents Searcher.FINISHED (a str) as a return value.
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        config = self.ledger.start(trial_id)
        if config == WAIT:
            return None  # a running trial may fail and be retried: ask again later
        return Searcher.FINISHED if config is None else config

    def save(self, checkpoint_path: str) -> None:
        # The Optuna study is the persistent state; nothing else needs saving.
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        # Outcomes are recorded by LedgerCallback, which also sees results the
        # scheduler stopped on (searchers are not shown those).
        return None


def error_text(trial: Any) -> str:
    """The error a Ray trial ended with, as text (traceback included when Ray kept it)."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).exists():
        text = Path(path).read_text(errors="replace").strip()
        if text:
            return text
    try:
        err = trial.get_error()
    except Exception:  # noqa: BLE001 - best effort: the trial has failed either way
        err = None
    return str(err) if err else "the trial raised an error (no details were kept)"


class LedgerCallback(Callback):
    """Passes every result, completion and error of every trial to the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self.ledger.record(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ledger.finish(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ledger.error(trial.trial_id, error_text(trial))

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any,
                      **info: Any) -> None:
        self.ledger.on_checkpoint(trial.trial_id, checkpoint.path)


class DeadlineStopper(Stopper):
    """Stops the whole experiment once the time budget is spent or the search interrupted."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.ledger.should_end()
