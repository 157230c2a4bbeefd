"""``finalize``: top configs re-run over seeds as Ray trials, a linked study, a robust pick."""

from __future__ import annotations

import optuna
import pytest

from hpo.shipping import keys
from hpo.shipping.finalize import finalize, top_trials
from hpo.shipping.interval import summarise


def test_finalize_reruns_top_configs_over_seeds_in_a_linked_study(
        noisy_search: tuple[str, str]) -> None:
    name, url = noisy_search
    search = optuna.load_study(study_name=name, storage=url)
    expected_top = [t.number for t in top_trials(search, 3)]

    result = finalize(name, storage=url, top_k=3, seeds=3, progress=False)

    assert [c.trial for c in result.candidates] == expected_top
    fin = optuna.load_study(study_name=f"{name}-finalize", storage=url)
    assert fin.user_attrs[keys.FINALIZE_OF] == name
    done = fin.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 9
    pairs = sorted((t.user_attrs[keys.CANDIDATE], t.user_attrs[keys.SEED]) for t in done)
    assert pairs == sorted((n, s) for n in expected_top for s in range(3))
    for cand in result.candidates:
        mine = [t for t in done if t.user_attrs[keys.CANDIDATE] == cand.trial]
        # Each re-run trains the candidate's own config with its seed.
        assert all(t.params["x"] == cand.params["x"] for t in mine)
        assert sorted(t.params["seed"] for t in mine) == [0, 1, 2]
        assert cand.interval == summarise([t.value for t in mine])
    # The pick is the best mean; the record on the search study points at the finalize study.
    best_mean = max(result.candidates, key=lambda c: c.interval.mean)
    assert result.picked == best_mean
    stored = optuna.load_study(study_name=name, storage=url).user_attrs[keys.FINALIZE]
    assert stored["study"] == f"{name}-finalize"
    assert stored["picked"] == best_mean.trial
    assert stored["optimism"] == pytest.approx(best_mean.search_score - best_mean.interval.mean)
    assert [c["trial"] for c in stored["candidates"]] == expected_top
    assert stored["selection"]["kind"] == "none"  # a plain function has no data to carve
    assert "running" not in stored


def test_a_second_finalize_reuses_finished_pairs_and_can_pick_by_lower_bound(
        noisy_search: tuple[str, str]) -> None:
    name, url = noisy_search
    first = finalize(name, storage=url, top_k=2, seeds=2, progress=False)
    second = finalize(name, storage=url, top_k=3, seeds=2, pick_by="lower", progress=False)
    assert second.reused == 4  # the first two candidates' two seeds each
    fin = optuna.load_study(study_name=f"{name}-finalize", storage=url)
    assert len(fin.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 6
    assert [c.interval for c in second.candidates[:2]] == [c.interval for c in first.candidates]
    lowest = max(second.candidates, key=lambda c: c.interval.low)
    assert second.picked == lowest


def test_bad_arguments_are_refused_before_anything_runs(noisy_search: tuple[str, str]) -> None:
    name, url = noisy_search
    with pytest.raises(ValueError, match="--pick: choose one of mean, lower, got 'median'"):
        finalize(name, storage=url, pick_by="median", progress=False)
    with pytest.raises(KeyError, match="no study 'nope'"):
        finalize("nope", storage=url, progress=False)
    with pytest.raises(ValueError, match="no data section to carve"):
        finalize(name, storage=url, selection_size=10, progress=False)
    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    assert names == {name}
