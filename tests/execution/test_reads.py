"""The read memo on the driver's storage: fewer reads, never a stale answer after a write."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.execution._reads import ReadMemo


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}",
                               sampler=optuna.samplers.RandomSampler(seed=0))


def test_reads_without_writes_between_go_to_the_store_once(study: optuna.Study) -> None:
    memo = ReadMemo(study._storage)
    study.ask()  # a trial, so there is something to read
    before = memo.reads
    first = study.get_trials(deepcopy=False)
    again = study.get_trials(deepcopy=False)
    assert memo.reads == before + 1
    assert [t.number for t in first] == [t.number for t in again] == [0]


def test_a_write_makes_the_next_read_go_to_the_store(study: optuna.Study) -> None:
    memo = ReadMemo(study._storage)
    trial = study.ask()
    study.get_trials(deepcopy=False)
    reads = memo.reads
    trial.report(0.5, 1)
    seen = study.get_trials(deepcopy=False)
    assert memo.reads == reads + 1
    assert seen[0].intermediate_values == {1: 0.5}
    study.tell(trial, 1.0)
    assert study.get_trials(deepcopy=False)[0].state == TrialState.COMPLETE


def test_ask_skips_the_waiting_lookup_yet_sees_an_enqueued_trial(study: optuna.Study) -> None:
    memo = ReadMemo(study._storage)
    study.tell(study.ask(), 0.0)
    study.get_trials(deepcopy=False)
    reads = memo.reads
    # Nothing written since that read can have added a WAITING trial: no read needed.
    assert study._storage.get_all_trials(study._study_id, states=(TrialState.WAITING,)) == []
    assert memo.reads == reads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.enqueue_trial({"x": 0.25})
    trial = study.ask()
    assert trial.suggest_float("x", 0.0, 1.0) == 0.25


def test_answers_are_never_older_than_max_age(study: optuna.Study) -> None:
    memo = ReadMemo(study._storage, max_age_s=0.0)
    study.ask()
    study.get_trials(deepcopy=False)
    reads = memo.reads
    study.get_trials(deepcopy=False)
    study._storage.get_all_trials(study._study_id, states=(TrialState.WAITING,))
    assert memo.reads == reads + 2


def test_another_process_enqueuing_is_seen_once_the_memo_ages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ours = optuna.create_study(study_name="s", storage=url)
    memo = ReadMemo(ours._storage, max_age_s=0.0)
    ours.get_trials(deepcopy=False)
    theirs = optuna.load_study(study_name="s", storage=url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.enqueue_trial({"x": 0.75})
    assert memo.reads >= 1
    assert ours.ask().suggest_float("x", 0.0, 1.0) == 0.75
