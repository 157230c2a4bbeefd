"""What the rung check found, in words: ``hpo show`` and the search's own log line.

The record is the study's ``hpo:rungs`` attribute, written by the ASHA and hyperband
schedulers as trials finish (see ``hpo.execution._rung_check``): for each rung, how
well the trials' ranking there predicted their ranking at the end (Spearman's rank
correlation), and every move of the first rung it led to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo.storage import attrs


def _num(x: object) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _target(fit: Mapping[str, Any], max_t: object) -> str:
    against = fit.get("against")
    if against == max_t:
        return f"the final ranking (step {against})"
    return f"the ranking at step {against} (the furthest step enough trials had reached)"


def move_line(move: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """One line for one move of the first rung, with the fits that caused it."""
    max_t = record.get("max_t")
    to = move.get("to")
    last = " (the last step: no trial is stopped early any more)" if to == max_t else ""
    why = []
    for fit in move.get("fits") or []:
        rho = _num(fit.get("rho"))
        corr = "no rank correlation" if rho is None else f"rank correlation {rho:.2f}"
        why.append(f"the ranking at step {fit.get('rung')} predicted {_target(fit, max_t)} "
                   f"with {corr} over {fit.get('pairs')} trials")
    threshold = _num(record.get("threshold"))
    limit = f" (threshold {threshold:g})" if threshold is not None else ""
    return (f"first rung moved from step {move.get('from')} to step {to} after "
            f"{move.get('finished')} finished trials{last}: "
            f"{'; '.join(why) or 'no rung predicted'}{limit}")


def check_line(record: Mapping[str, Any]) -> str:
    """One line for the latest check ("" when it judged no rung yet)."""
    checked = record.get("checked")
    fits = [f for f in (checked.get("fits") or []) if isinstance(f, dict)] \
        if isinstance(checked, dict) else []
    judged = [f for f in fits if _num(f.get("rho")) is not None]
    if not isinstance(checked, dict) or not judged:
        return ""
    max_t = record.get("max_t")
    parts = []
    for fit in judged:
        text = f"step {fit.get('rung')} {float(fit['rho']):.2f} over {fit.get('pairs')} trials"
        if fit.get("against") != max_t:
            text += f" against step {fit.get('against')}"
        if fit.get("verdict") == "not predictive":
            text += ", not predictive"
        parts.append(text)
    threshold = _num(record.get("threshold"))
    first = record.get("first_rung")
    notes = [f"threshold {threshold:g}"] if threshold is not None else []
    notes.append(f"early stops from step {first}" if first != max_t
                 else "no early stops")
    return (f"rung check after {checked.get('finished')} finished trials, rank correlation "
            f"with the final ranking ({', '.join(notes)}): {'; '.join(parts)}")


def rung_lines(study_attrs: Mapping[str, Any]) -> list[str]:
    """What to print about a study's rung check (nothing when none ran)."""
    record = study_attrs.get(attrs.RUNGS)
    if not isinstance(record, dict):
        return []
    lines = [move_line(m, record) for m in record.get("moves") or [] if isinstance(m, dict)]
    check = check_line(record)
    return lines + ([check] if check else [])
