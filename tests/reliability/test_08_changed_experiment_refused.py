"""RELIABILITY 8: resuming with a changed search space, metric or direction is refused
with a message that says what changed, unless a new study is asked for; nothing is
written. Also for a plain Optuna study that hpo did not create."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from hpo.spaces import load_space
from hpo.storage import StudyMismatch, open_study
from tests.reliability._stores import fresh_database, space_file


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'changed.db'}"
    else:
        with fresh_database(request.getfixturevalue("postgres_url")) as fresh:
            yield fresh


def _snapshot(url: str) -> list[Any]:
    """Everything stored: every study with its direction, attributes and trials."""
    out = []
    for summary in optuna.get_all_study_summaries(url):
        study = optuna.load_study(study_name=summary.study_name, storage=url)
        out.append((summary.study_name, [d.name for d in study.directions],
                    sorted(study.user_attrs.items(), key=lambda kv: kv[0]),
                    [(t.number, t.state, t.params, t.values, t.user_attrs)
                     for t in study.get_trials()]))
    return out


CHANGES = {
    # what changes -> (space keywords, the words the refusal must say)
    "direction": ({"direction": "minimize"}, "direction: 'maximize' -> 'minimize'"),
    "metric": ({"metric": "loss"}, "metric: 'score' -> 'loss'"),
    "space": ({"high": 2.0}, "params changed: x"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changed_experiment_is_refused_saying_what_changed_and_writes_nothing(
        tmp_path: Path, url: str, change: str) -> None:
    study = open_study(load_space(space_file(tmp_path)), "exp", url)
    trial = study.ask()
    study.tell(trial, 0.5)
    before = _snapshot(url)
    keywords, words = CHANGES[change]
    changed = load_space(space_file(tmp_path, **keywords))
    with pytest.raises(StudyMismatch) as refused:
        open_study(changed, "exp", url)
    message = str(refused.value)
    assert words in message
    if change != "space":  # the old message said "params changed" whatever changed
        assert "params changed" not in message
    assert "'exp'" in message and "--study NEW_NAME" in message
    assert _snapshot(url) == before  # nothing written
    # Asked for explicitly, a new study of another name is made and the old one kept.
    assert open_study(changed, "exp-2", url).study_name == "exp-2"
    assert _snapshot(url)[0] == before[0]


def test_same_experiment_resumes(tmp_path: Path, url: str) -> None:
    space = space_file(tmp_path)
    first = open_study(load_space(space), "same", url)
    first.tell(first.ask(), 0.25)
    again = open_study(load_space(space), "same", url)
    assert [t.value for t in again.get_trials()] == [0.25]
    assert len(optuna.get_all_study_summaries(url)) == 1


@pytest.mark.parametrize("plain, space", [("maximize", "minimize"), ("minimize", "maximize")])
def test_plain_optuna_study_with_the_other_direction_is_not_taken_over(
        tmp_path: Path, url: str, plain: str, space: str) -> None:
    study = optuna.create_study(study_name="plain", storage=url, direction=plain)
    study.tell(study.ask(), 1.0)
    before = _snapshot(url)
    with pytest.raises(StudyMismatch, match=f"direction: '{plain}' -> '{space}'"):
        open_study(load_space(space_file(tmp_path, direction=space)), "plain", url)
    assert _snapshot(url) == before


def test_overwrite_replaces_the_study(tmp_path: Path, url: str) -> None:
    open_study(load_space(space_file(tmp_path)), "redo", url).tell(
        optuna.load_study(study_name="redo", storage=url).ask(), 0.1)
    study = open_study(load_space(space_file(tmp_path, direction="minimize")), "redo", url,
                   overwrite=True)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.get_trials() == []
