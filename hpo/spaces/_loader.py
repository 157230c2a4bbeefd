"""Reading and validating search-space YAML files.

Every problem is collected before anything is raised, so one run of
``hpo validate`` shows all of them, each naming the field and quoting the value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import yaml

from hpo.spaces._errors import Problem, SpaceError
from hpo.spaces._params import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)
from hpo.spaces._spec import (
    DIRECTIONS,
    SAMPLERS,
    SCHEDULERS,
    VALUE_MODES,
    Budget,
    Component,
    Divergence,
    Objective,
    Resources,
    SearchSpec,
)

TOP_KEYS = {
    "name", "description", "trainable", "model", "data", "objective", "sampler",
    "scheduler", "budget", "concurrency", "resources", "params", "max_retries", "divergence",
}
#: ``concurrency`` and ``resources.cpu`` left to the machine, as when they are absent.
AUTO = "auto"
PARAM_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
    "fixed": {"type", "value", "when"},
}


def load_space(path: str | Path) -> SearchSpec:
    """Read, validate and freeze a search-space file.

    Raises:
        SpaceError: the file is missing, not YAML, or invalid; the message lists
            each problem with the file name, the field and the bad value.
    """
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpaceError(source, [Problem("", f"cannot read file: {exc.strerror}")]) from None
    return parse_space(text, source)


def parse_space(text: str, source: str = "<string>") -> SearchSpec:
    """Validate a search space given as YAML text (see :func:`load_space`)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpaceError(source, [Problem("", f"YAML syntax error at {where}{problem}")]) from None
    if not isinstance(doc, dict):
        raise SpaceError(source, [Problem("", f"expected a mapping at top level, got {doc!r}")])
    return _Reader(source, text).read(doc)


class _Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.problems: list[Problem] = []

    def bad(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    def read(self, doc: dict[str, Any]) -> SearchSpec:
        for key in sorted(set(doc) - TOP_KEYS):
            self.bad(key, f"unknown key {key!r}; known keys: {', '.join(sorted(TOP_KEYS))}")
        trainable = doc.get("trainable")
        if not isinstance(trainable, str) or not trainable:
            self.bad("trainable",
                     f"must name a built-in trainable or 'module:function', got {trainable!r}")
            trainable = ""
        params = self.read_params(doc.get("params"))
        objective = self.read_objective(doc.get("objective"))
        sampler = self.read_component("sampler", doc.get("sampler", SAMPLERS[0]))
        scheduler = self.read_component("scheduler", doc.get("scheduler", SCHEDULERS[0]))
        budget = self.read_budget(doc.get("budget", {}))
        concurrency = self.concurrency(doc.get("concurrency"))
        resources = self.read_resources(doc.get("resources", {}))
        max_retries = self.count("max_retries", doc.get("max_retries", 0))
        divergence = self.read_divergence(doc.get("divergence"), objective)
        model = self.mapping("model", doc.get("model", {}))
        data = self.mapping("data", doc.get("data", {}))
        name = doc.get("name")
        if name is not None and not isinstance(name, str):
            self.bad("name", f"must be a string, got {name!r}")
        if self.problems:
            raise SpaceError(self.source, self.problems)
        return SearchSpec(
            source=self.source, text=self.text, trainable=trainable, params=params,
            objective=objective, name=name, description=str(doc.get("description", "")),
            model=model, data=data, sampler=sampler, scheduler=scheduler, budget=budget,
            concurrency=concurrency, resources=resources, max_retries=max_retries,
            divergence=divergence,
        )

    # -- sections -------------------------------------------------------------------------

    def mapping(self, field: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(field, f"must be a mapping, got {value!r}")
            return {}
        return value

    def read_objective(self, value: Any) -> Objective:
        if isinstance(value, str):
            value = {"metric": value}
        if not isinstance(value, dict):
            self.bad("objective", f"must be a mapping with 'metric', got {value!r}")
            return Objective("?")
        known = {"metric", "direction", "value", "tiebreak"}
        for key in sorted(set(value) - known):
            self.bad(f"objective.{key}", f"unknown key; known keys: {', '.join(sorted(known))}")
        metric = value.get("metric")
        if not isinstance(metric, str) or not metric:
            self.bad("objective.metric", f"must be a metric name, got {metric!r}")
            metric = "?"
        direction = value.get("direction", "maximize")
        if direction not in DIRECTIONS:
            self.bad("objective.direction", f"must be one of {DIRECTIONS}, got {direction!r}")
        mode = value.get("value", "best")
        if mode not in VALUE_MODES:
            self.bad("objective.value", f"must be one of {VALUE_MODES}, got {mode!r}")
        tiebreak, tb_direction = value.get("tiebreak"), "minimize"
        if isinstance(tiebreak, dict):
            tb_direction = tiebreak.get("direction", "minimize")
            tiebreak = tiebreak.get("metric")
            if tb_direction not in DIRECTIONS:
                self.bad("objective.tiebreak.direction",
                         f"must be one of {DIRECTIONS}, got {tb_direction!r}")
        if tiebreak is not None and (not isinstance(tiebreak, str) or tiebreak == metric):
            self.bad("objective.tiebreak",
                     f"must name a reported metric other than the objective, got {tiebreak!r}")
            tiebreak = None
        return Objective(metric, str(direction), str(mode), tiebreak, str(tb_direction))

    def read_component(self, field: str, value: Any) -> Component:
        from hpo.execution._registry import SAMPLERS, SCHEDULERS, name_error

        default = (SAMPLERS if field == "sampler" else SCHEDULERS)[0]
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            self.bad(field, f"must be a name or a mapping with 'name', got {value!r}")
            return Component(default)
        for key in sorted(set(value) - {"name", "options"}):
            self.bad(f"{field}.{key}", "unknown key; known keys: name, options")
        name = value.get("name", default)
        problem = name_error(field, name)
        if problem is not None:
            self.bad(f"{field}.name", problem)
        options = self.mapping(f"{field}.options", value.get("options", {}))
        return Component(str(name), dict(options))

    def read_budget(self, value: Any) -> Budget:
        value = self.mapping("budget", value)
        for key in sorted(set(value) - {"trials", "time", "max_steps", "trial_time"}):
            self.bad(f"budget.{key}",
                     "unknown key; known keys: max_steps, time, trial_time, trials")
        default = Budget()
        trials = self.positive_int("budget.trials", value.get("trials", default.trials))
        steps = self.positive_int("budget.max_steps", value.get("max_steps", default.max_steps))
        time_s = value.get("time")
        if time_s is not None:
            time_s = self.number("budget.time", time_s)
            if time_s is not None and time_s <= 0:
                self.bad("budget.time", f"must be > 0 seconds, got {time_s!r}")
        trial_time = value.get("trial_time")
        if trial_time is not None:
            trial_time = self.number("budget.trial_time", trial_time)
            if trial_time is not None and trial_time <= 0:
                self.bad("budget.trial_time", f"must be > 0 seconds, got {trial_time!r}")
        return Budget(trials=trials, time_s=time_s, max_steps=steps, trial_time=trial_time)

    def read_divergence(self, value: Any, objective: Objective) -> Divergence | None:
        if value is None:
            return None
        if value is True:
            value = {}
        if not isinstance(value, dict):
            self.bad("divergence", f"must be a mapping with 'metric' and 'max_ratio', "
                     f"got {value!r}")
            return None
        for key in sorted(set(value) - {"metric", "max_ratio"}):
            self.bad(f"divergence.{key}", "unknown key; known keys: max_ratio, metric")
        metric = value.get("metric")
        if metric is None and objective.direction == "minimize":
            metric = objective.metric  # a minimised objective is a loss already
        if not isinstance(metric, str) or not metric:
            self.bad("divergence.metric", "must name a reported loss (lower is better); "
                     f"needed when the objective is maximised, got {metric!r}")
            return None
        ratio = self.number("divergence.max_ratio", value.get("max_ratio", 10.0))
        if ratio is None:
            return None
        if ratio <= 1:
            self.bad("divergence.max_ratio", f"must be > 1, got {ratio!r}")
            return None
        return Divergence(metric, float(ratio))

    def read_resources(self, value: Any) -> Resources:
        value = self.mapping("resources", value)
        for key in sorted(set(value) - {"cpu", "gpu"}):
            self.bad(f"resources.{key}", "unknown key; known keys: cpu, gpu")
        # Absent (or ``auto``) stays None: the machine decides when the search starts.
        cpu = value.get("cpu")
        cpu = None if cpu is None or cpu == AUTO else self.number("resources.cpu", cpu)
        gpu = self.number("resources.gpu", value.get("gpu", 0.0))
        if cpu is not None and cpu <= 0:
            self.bad("resources.cpu", f"must be > 0 or {AUTO}, got {cpu!r}")
        if gpu is not None and gpu < 0:
            self.bad("resources.gpu", f"must be >= 0, got {gpu!r}")
        return Resources(cpu=cpu, gpu=gpu or 0.0)

    # -- parameters -----------------------------------------------------------------------

    def read_params(self, value: Any) -> tuple[Param, ...]:
        if not isinstance(value, dict) or not value:
            self.bad("params", f"must be a non-empty mapping of parameter names, got {value!r}")
            return ()
        params: dict[str, Param] = {}
        for name, spec in value.items():
            param = self.read_param(str(name), spec)
            if param is not None:
                params[str(name)] = param
        self.check_conditions(params, value)
        return self.ordered(params)

    def read_param(self, name: str, spec: Any) -> Param | None:
        field = f"params.{name}"
        if isinstance(spec, list):
            spec = {"type": "categorical", "choices": spec}
        elif not isinstance(spec, dict):
            return FixedParam(name, spec)
        kind = spec.get("type")
        if kind not in PARAM_KEYS:
            self.bad(f"{field}.type",
                     f"unknown type {kind!r}; choose one of {', '.join(PARAM_KEYS)}")
            return None
        for key in sorted(set(spec) - PARAM_KEYS[kind]):
            self.bad(f"{field}.{key}", f"unknown key {key!r} for a {kind} parameter; "
                     f"known keys: {', '.join(sorted(PARAM_KEYS[kind]))}")
        when = self.read_when(field, spec.get("when"))
        if kind == "fixed":
            if "value" not in spec:
                self.bad(f"{field}.value", "a fixed parameter needs 'value'")
            return FixedParam(name, spec.get("value"), when)
        if kind == "categorical":
            return self.read_categorical(field, name, spec.get("choices"), when)
        return self.read_numeric(field, name, kind, spec, when)

    def read_categorical(
        self, field: str, name: str, choices: Any, when: tuple[Condition, ...]
    ) -> Param | None:
        if not isinstance(choices, list) or not choices:
            self.bad(f"{field}.choices", f"must be a non-empty list, got {choices!r}")
            return None
        for i, choice in enumerate(choices):
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                self.bad(f"{field}.choices[{i}]", f"must be a number, string, bool or null, "
                         f"got {choice!r}")
        if len({repr(c) for c in choices}) != len(choices):
            self.bad(f"{field}.choices", f"has duplicates: {choices!r}")
        return CategoricalParam(name, tuple(choices), when)

    def read_numeric(
        self, field: str, name: str, kind: str, spec: dict[str, Any], when: tuple[Condition, ...]
    ) -> Param | None:
        ok = True
        bounds = {}
        for key in ("low", "high"):
            if key not in spec:
                self.bad(f"{field}.{key}", f"a {kind} parameter needs '{key}'")
                ok = False
                continue
            number = self.number(f"{field}.{key}", spec[key], integer=kind == "int")
            ok = ok and number is not None
            bounds[key] = number
        log = spec.get("log", False)
        if not isinstance(log, bool):
            self.bad(f"{field}.log", f"must be true or false, got {log!r}")
            ok = False
        step = spec.get("step")
        if step is not None:
            step = self.number(f"{field}.step", step, integer=kind == "int")
            if step is not None and step <= 0:
                self.bad(f"{field}.step", f"step must be > 0, got step={step!r}")
                ok = False
            if log and step is not None:
                self.bad(f"{field}.step",
                         f"step cannot be combined with log: true, got step={step!r}")
                ok = False
        if not ok:
            return None
        low, high = cast(float, bounds["low"]), cast(float, bounds["high"])
        if low > high:
            self.bad(f"{field}.low", f"low must be <= high, got low={low!r}, high={high!r}")
            return None
        if log and low <= 0:
            self.bad(f"{field}.low", f"log scale needs low > 0, got low={low!r}")
            return None
        if kind == "int":
            return IntParam(name, int(low), int(high), log, int(step or 1), when)
        return FloatParam(name, float(low), float(high), log, step, when)

    def read_when(self, field: str, when: Any) -> tuple[Condition, ...]:
        if when is None:
            return ()
        if not isinstance(when, dict) or not when:
            self.bad(f"{field}.when", f"must map a parameter to a value or list, got {when!r}")
            return ()
        out = []
        for parent, values in when.items():
            vals = tuple(values) if isinstance(values, list) else (values,)
            out.append(Condition(str(parent), vals))
        return tuple(out)

    def check_conditions(self, params: dict[str, Param], raw: dict[str, Any]) -> None:
        names = {str(n) for n in raw}
        for param in params.values():
            for cond in param.when:
                field = f"params.{param.name}.when.{cond.parent}"
                if cond.parent == param.name:
                    self.bad(field, f"a parameter cannot depend on itself ({cond.parent!r})")
                elif cond.parent not in names:
                    self.bad(field, f"condition on unknown parameter {cond.parent!r}; "
                             f"parameters are: {', '.join(sorted(names))}")
                    continue
                parent = params.get(cond.parent)
                if isinstance(parent, CategoricalParam):
                    for v in cond.values:
                        if v not in parent.choices:
                            self.bad(field, f"value {v!r} is not among the choices of "
                                     f"{cond.parent!r}: {list(parent.choices)!r}")

    def ordered(self, params: dict[str, Param]) -> tuple[Param, ...]:
        """Parents before children, otherwise in file order; reports cycles."""
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, chain: list[str]) -> None:
            if state.get(name) == 2 or name not in params:
                return
            if state.get(name) == 1:
                cycle = " -> ".join([*chain, name])
                self.bad(f"params.{name}.when", f"conditions form a cycle: {cycle}")
                return
            state[name] = 1
            for cond in params[name].when:
                visit(cond.parent, [*chain, name])
            state[name] = 2
            done.append(name)

        for name in params:
            visit(name, [])
        return tuple(params[n] for n in done)

    # -- scalars --------------------------------------------------------------------------

    def number(self, field: str, value: Any, integer: bool = False) -> float | None:
        # YAML 1.1 reads "1e-5" (no dot) as a string; accept it as the number it means.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                self.bad(field, f"must be a number, got {value!r}")
                return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(field, f"must be a number, got {value!r}")
            return None
        if not math.isfinite(value):
            self.bad(field, f"must be finite, got {value!r}")
            return None
        if integer:
            if float(value) != int(value):
                self.bad(field, f"must be a whole number, got {value!r}")
                return None
            return int(value)
        return value

    def count(self, field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.bad(field, f"must be a whole number >= 0, got {value!r}")
            return 0
        return value

    def concurrency(self, value: Any) -> int | None:
        # Absent (or ``auto``) stays None: the machine decides when the search starts.
        if value is None or value == AUTO:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.bad("concurrency", f"must be a whole number >= 1 or {AUTO}, got {value!r}")
            return None
        return value

    def positive_int(self, field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.bad(field, f"must be a whole number >= 1, got {value!r}")
            return 1
        return value
