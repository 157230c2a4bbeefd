"""Saved comparison dashboards: ``dashboards/*.yaml`` loading, validation and trial filters.

The format is documented in ``dashboards/README.md``. Every error names the
file, the field and the offending value, so a typo is found without reading code.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpo.results import StudySnapshot
from hpo.results._summary import STATES

# The panels a comparison can show, in page order (the page takes this list from the server).
COMPARE_PANELS = ("summary", "best_vs_time", "best_vs_compute", "best_vs_trials", "curves",
                  "best_configs", "importance")
_KEYS = {"title", "description", "studies", "panels", "filters", "refresh_s",
         "importance_evaluator"}
_FILTER_KEYS = {"states", "trials", "params"}


class ConfigError(ValueError):
    """A dashboard file is malformed; the message names file, field and value."""


@dataclass(frozen=True)
class Filters:
    """Which trials a dashboard looks at (all of them by default)."""

    states: tuple[str, ...] = STATES
    trials: tuple[int | None, int | None] = (None, None)  # inclusive trial-number range
    params: dict[str, Any] = field(default_factory=dict)  # name -> [choices] or {min, max}

    def apply(self, snap: StudySnapshot) -> StudySnapshot:
        """``snap`` keeping only the trials these filters accept."""
        lo, hi = self.trials
        if self.states == STATES and lo is None and hi is None and not self.params:
            return snap
        kept = tuple(r for r in snap.trials if r.state in self.states
                     and (lo is None or r.number >= lo) and (hi is None or r.number <= hi)
                     and all(_accepts(rule, r.params.get(name))
                             for name, rule in self.params.items()))
        return replace(snap, trials=kept)


def _accepts(rule: Any, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(rule, dict):
        lo, hi = rule.get("min", -math.inf), rule.get("max", math.inf)
        return isinstance(value, (int, float)) and lo <= value <= hi
    return value in rule


@dataclass(frozen=True)
class Dashboard:
    """One saved comparison dashboard."""

    path: str
    title: str
    description: str
    studies: tuple[str, ...]  # exact names or glob patterns
    panels: tuple[str, ...]
    filters: Filters
    refresh_s: float
    importance_evaluator: str

    def select(self, names: list[str]) -> list[str]:
        """Study names (in ``names`` order) matched by this dashboard's patterns."""
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in self.studies)]


def _fail(path: str, where: str, value: Any, why: str) -> ConfigError:
    return ConfigError(f"{path}: field {where!r} = {value!r}: {why}")


def _str_list(path: str, where: str, value: Any, allowed: tuple[str, ...] | None = None
              ) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, where, value, "expected a non-empty list of strings")
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise _fail(path, where, v, f"not one of {list(allowed)}")
    return tuple(value)


def _filters(path: str, raw: Any) -> Filters:
    if raw is None:
        return Filters()
    if not isinstance(raw, dict):
        raise _fail(path, "filters", raw, "expected a mapping")
    for key in raw:
        if key not in _FILTER_KEYS:
            raise _fail(path, f"filters.{key}", raw[key],
                        f"unknown filter; use {sorted(_FILTER_KEYS)}")
    states: tuple[str, ...] = STATES
    if "states" in raw:
        states = _str_list(path, "filters.states", raw["states"], STATES)
    trials: tuple[int | None, int | None] = (None, None)
    if "trials" in raw:
        t = raw["trials"]
        ok = isinstance(t, list) and len(t) == 2 and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in t)
        if not ok:
            raise _fail(path, "filters.trials", t, "expected [first, last] trial numbers "
                        "(integers >= 0, null for open)")
        trials = (t[0], t[1])
    params: dict[str, Any] = {}
    rawp = raw.get("params", {})
    if not isinstance(rawp, dict):
        raise _fail(path, "filters.params", rawp, "expected a mapping of parameter -> rule")
    for name, rule in rawp.items():
        where = f"filters.params.{name}"
        if isinstance(rule, dict):
            bad = set(rule) - {"min", "max"}
            nums = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in rule.values())
            if bad or not rule or not nums:
                raise _fail(path, where, rule, "expected {min: number, max: number}")
            params[name] = dict(rule)
        elif isinstance(rule, list) and rule:
            params[name] = list(rule)
        else:
            raise _fail(path, where, rule, "expected a list of allowed values or {min, max}")
    return Filters(states, trials, params)


def parse_dashboard(raw: Any, path: str = "<dashboard>") -> Dashboard:
    """Validate a loaded YAML document as a :class:`Dashboard`.

    Raises:
        ConfigError: a field is missing, unknown or has a bad value.
    """
    from hpo.dashboard._analysis import DEFAULT_EVALUATOR, EVALUATORS

    if not isinstance(raw, dict):
        raise _fail(path, "<top level>", raw, "expected a mapping")
    for key in raw:
        if key not in _KEYS:
            raise _fail(path, str(key), raw[key], f"unknown field; use {sorted(_KEYS)}")
    if "studies" not in raw:
        raise ConfigError(f"{path}: field 'studies' is required (list of names or patterns)")
    studies = _str_list(path, "studies", raw["studies"])
    panels = _str_list(path, "panels", raw.get("panels", list(COMPARE_PANELS)), COMPARE_PANELS)
    refresh = raw.get("refresh_s", 5)
    if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or not \
            0 <= refresh <= 3600:
        raise _fail(path, "refresh_s", refresh, "expected seconds between 0 (off) and 3600")
    ev = raw.get("importance_evaluator", DEFAULT_EVALUATOR)
    if ev not in EVALUATORS:
        raise _fail(path, "importance_evaluator", ev, f"not one of {list(EVALUATORS)}")
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise _fail(path, key, raw[key], "expected a string")
    return Dashboard(path=path, title=raw.get("title") or Path(path).stem,
                     description=raw.get("description", ""), studies=studies, panels=panels,
                     filters=_filters(path, raw.get("filters")), refresh_s=float(refresh),
                     importance_evaluator=ev)


def load_dashboard(path: str | Path) -> Dashboard:
    """Read and validate one dashboard YAML file.

    Raises:
        ConfigError: the file is missing, not YAML, or fails validation.
    """
    import yaml

    p = str(path)
    try:
        text = Path(p).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read dashboard file: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    return parse_dashboard(raw, p)
