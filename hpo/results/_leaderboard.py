"""Reading a finished (or running) study back: leaderboard rows, study summaries, best config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.storage import attrs

if TYPE_CHECKING:
    import optuna

_STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


@dataclass(frozen=True)
class Row:
    """One trial as the leaderboard shows it."""

    rank: int | None
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    step: int | None
    best_step: int | None
    duration_s: float | None
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "number": self.number, "state": self.state, "value": self.value,
            "params": self.params, "step": self.step, "best_step": self.best_step,
            "duration_s": self.duration_s, "note": self.note,
        }


def _note(trial: optuna.trial.FrozenTrial) -> str:
    stop = trial.user_attrs.get(attrs.STOP)
    if trial.state.name == "PRUNED" and isinstance(stop, dict):
        return f"stopped by {stop.get('by')}: {stop.get('reason')}"
    reason = trial.user_attrs.get(attrs.FAIL_REASON)
    if trial.state.name == "FAIL" and reason:
        lines = [ln for ln in str(reason).strip().splitlines() if ln.strip()]
        return lines[-1].strip() if lines else str(reason)
    return ""


def _duration(trial: optuna.trial.FrozenTrial) -> float | None:
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def leaderboard(study: optuna.Study) -> list[Row]:
    """All trials, best first: COMPLETE by value, then PRUNED by value, then the rest."""
    sign = -1.0 if study.direction.name == "MAXIMIZE" else 1.0
    trials = study.get_trials(deepcopy=False)

    def key(t: optuna.trial.FrozenTrial) -> tuple[int, float, int]:
        value = sign * t.value if t.value is not None else float("inf")
        return (_STATE_ORDER.get(t.state.name, 5), value, t.number)

    rows = []
    rank = 0
    for t in sorted(trials, key=key):
        ranked = t.state.name == "COMPLETE" and t.value is not None
        rank += ranked
        rows.append(Row(
            rank=rank if ranked else None, number=t.number, state=t.state.name, value=t.value,
            params=dict(t.params), step=t.user_attrs.get(attrs.STEP),
            best_step=t.user_attrs.get(attrs.BEST_STEP), duration_s=_duration(t), note=_note(t),
        ))
    return rows


@dataclass(frozen=True)
class StudySummary:
    name: str
    state: str
    complete: int
    pruned: int
    failed: int
    running: int
    best: float | None
    metric: str | None
    direction: str
    waiting: int = 0  # enqueued (study.enqueue_trial), not started: the next run starts them first

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarize(storage: optuna.storages.BaseStorage) -> list[StudySummary]:
    """One summary per study in ``storage``."""
    import optuna

    out = []
    for s in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        counts: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        try:
            best: float | None = study.best_value
        except ValueError:
            best = None
        running = counts.get("RUNNING", 0)
        total = sum(counts.values())
        state = "running" if running else ("empty" if total == 0 else "finished")
        out.append(StudySummary(
            name=s.study_name, state=state, complete=counts.get("COMPLETE", 0),
            pruned=counts.get("PRUNED", 0), failed=counts.get("FAIL", 0), running=running,
            best=best, metric=study.user_attrs.get(attrs.METRIC),
            direction=study.direction.name.lower(), waiting=counts.get("WAITING", 0),
        ))
    return out


def best_config(study: optuna.Study) -> dict[str, Any]:
    """The best trial's full config (fixed values included) with its provenance.

    Raises:
        ValueError: the study has no COMPLETE trial.
    """
    from hpo.spaces import config_from_params, parse_space

    best = study.best_trial
    text = study.user_attrs.get(attrs.SPACE_TEXT)
    config = dict(best.params)
    if text:
        spec = parse_space(text, study.user_attrs.get(attrs.SPACE_PATH, "<stored space>"))
        config = config_from_params(spec, best.params)
    test = study.user_attrs.get(attrs.TEST)
    return {
        "study": study.study_name,
        "trial": best.number,
        "metric": study.user_attrs.get(attrs.METRIC),
        "direction": study.direction.name.lower(),
        "value": best.value,
        "step": best.user_attrs.get(attrs.BEST_STEP),
        "fingerprint": study.user_attrs.get(attrs.FINGERPRINT),
        "test": test if isinstance(test, dict) and test.get("trial") == best.number else None,
        "config": config,
    }
