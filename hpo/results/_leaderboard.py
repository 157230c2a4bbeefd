"""A study's trials best first, and its best trial's full config, from a snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hpo.results._store import StudySnapshot
from hpo.results._summary import best_trial, duration, is_ranked, rank_key, step_reached, stop_note
from hpo.storage import attrs


@dataclass(frozen=True)
class Row:
    """One trial as the leaderboard shows it."""

    rank: int | None
    number: int
    state: str
    value: float | None  # several objectives: None (see ``values``)
    params: dict[str, Any]
    step: int | None
    best_step: int | None
    duration_s: float | None
    note: str
    values: tuple[float, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "number": self.number, "state": self.state, "value": self.value,
            "values": None if self.values is None else list(self.values),
            "params": self.params, "step": self.step, "best_step": self.best_step,
            "duration_s": self.duration_s, "note": self.note,
        }


def leaderboard(snap: StudySnapshot, now: float | None = None) -> list[Row]:
    """All trials, best first: COMPLETE by value, then PRUNED by value, then RUNNING,
    WAITING and FAIL (see :func:`hpo.results._summary.rank_key`)."""
    now = time.time() if now is None else now
    single = len(snap.meta.directions) == 1
    rows = []
    rank = 0
    for rec in sorted(snap.trials, key=rank_key(snap)):
        ranked = is_ranked(snap, rec)
        rank += ranked
        best_step = rec.user_attrs.get(attrs.BEST_STEP)
        rows.append(Row(
            rank=rank if ranked else None, number=rec.number, state=rec.state,
            value=rec.values[0] if single and rec.values else None,
            params=dict(sorted(rec.params.items())),  # by name, as the dashboard's table
            step=step_reached(rec), best_step=best_step if isinstance(best_step, int) else None,
            duration_s=duration(rec, now), note=stop_note(rec), values=rec.values,
        ))
    return rows


def best_config(snap: StudySnapshot) -> dict[str, Any]:
    """The best trial's full config (fixed values included) with its provenance.

    Raises:
        ValueError: the study has no ranked trial (no COMPLETE one, or several objectives).
    """
    from hpo.spaces import config_from_params, parse_space

    best = best_trial(snap)
    if best is None or not best.values:
        if len(snap.meta.directions) > 1:
            raise ValueError(f"study {snap.meta.name!r} has {len(snap.meta.directions)} "
                             "objectives: no single best trial")
        raise ValueError(f"study {snap.meta.name!r} has no COMPLETE trial yet")
    user_attrs = snap.meta.user_attrs
    text = user_attrs.get(attrs.SPACE_TEXT)
    config = dict(best.params)
    if text:
        spec = parse_space(text, user_attrs.get(attrs.SPACE_PATH, "<stored space>"))
        config = config_from_params(spec, best.params)
    test = user_attrs.get(attrs.TEST)
    return {
        "study": snap.meta.name,
        "trial": best.number,
        "metric": user_attrs.get(attrs.METRIC),
        "direction": snap.meta.directions[0],
        "value": best.values[0],
        "step": best.user_attrs.get(attrs.BEST_STEP),
        "fingerprint": user_attrs.get(attrs.FINGERPRINT),
        "test": test if isinstance(test, dict) and test.get("trial") == best.number else None,
        "config": config,
    }
