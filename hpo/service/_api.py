"""The ``/api/v1`` routes as plain functions: (app, path parameters, query, body) -> answer.

Nothing here knows HTTP; :mod:`hpo.service._server` decodes requests and encodes
answers, and :mod:`hpo.service._openapi` documents :data:`ROUTES`, so the document and
the server are one table. Studies are read through the one read model, ``hpo.results``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.service._answers import AnswerCache
from hpo.service._queue import ACTIVE, STATES, Job, JobConflict, JobQueue
from hpo.service._submission import (
    SubmissionError,
    check_study_name,
    check_submission,
    shipped_spaces,
)

MAX_PAGE = 500


class ApiError(Exception):
    """An answer other than success: ``status`` and a message naming field and value."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class App:
    """What the routes work on."""

    queue: JobQueue
    store: Any  # hpo.results.Store
    spaces_dir: Path | None = None
    allow_custom: bool = False
    on_change: Callable[[], None] = field(default=lambda: None)  # wakes the dispatcher
    answers: AnswerCache = field(default_factory=AnswerCache)  # read routes' recent answers

    def changed(self) -> None:
        """After a write through the API: no reused answer hides it; wake the dispatcher."""
        self.answers.clear()
        self.on_change()


Query = dict[str, list[str]]
Handler = Callable[[App, dict[str, str], Query, Any], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    """One endpoint; the OpenAPI document is generated from these fields."""

    method: str
    path: str  # with {name} parameters
    handler: Handler
    summary: str
    response: str  # schema name in _openapi.SCHEMAS
    status: int = 200
    query: tuple[tuple[str, str, str], ...] = ()  # (name, JSON type, description)
    body: str | None = None  # request schema name
    errors: tuple[int, ...] = ()
    reuse: bool = False  # a read whose answer may serve others for App.answers.max_age_s

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _job(app: App, job_id: str) -> Job:
    if not re.fullmatch(r"[0-9a-f]{12}", job_id):
        raise ApiError(400, f"id: a search id is 12 hexadecimal digits, got {job_id!r}")
    job = app.queue.get(job_id)
    if job is None:
        raise ApiError(404, f"id: no search {job_id!r}")
    return job


def _int(query: Query, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: must be between {low} and {high}, got {value}")
    return value


def _snapshot(app: App, study: str) -> Any:
    from hpo.results import StoreError, StudyNotFound

    try:
        return app.store.snapshot(study)
    except StudyNotFound:
        return None
    except StoreError as exc:
        raise ApiError(503, f"store: {exc}") from None


def progress(job: Job, snap: Any, now: float | None = None) -> dict[str, Any]:
    """Counts by state, best so far, elapsed and an estimate of the time left.

    The estimate is the time per trial this job has finished so far times the trials
    still to run (capped by what is left of its time budget); None until one finished.
    """
    from hpo.results import best_trial, summarize

    now = time.time() if now is None else now
    target = job.request.get("target_trials")
    end = job.ended_at or now
    elapsed = None if job.started_at is None else max(0.0, end - job.started_at)
    if snap is None:
        counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
        return {"counts": counts, "n_trials": 0, "target_trials": target, "best": None,
                "best_trial": None, "elapsed_s": elapsed, "estimate_s": None}
    summary = summarize(snap, now)
    best = best_trial(snap)
    done = [t for t in snap.trials if t.state in ("COMPLETE", "PRUNED", "FAIL")
            and not t.user_attrs.get("hpo:orphaned")]
    estimate = None
    if job.state in ACTIVE and job.started_at is not None and target:
        mine = [t for t in done if t.complete is not None and t.complete >= job.started_at]
        left = max(0, int(target) - len(done))
        if mine and elapsed:
            estimate = elapsed / len(mine) * left
            budget = job.request.get("time_budget")
            if budget is not None:
                estimate = min(estimate, max(0.0, float(budget) - elapsed))
        elif left == 0:
            estimate = 0.0
    return {"counts": dict(summary.counts), "n_trials": summary.n_trials,
            "target_trials": target, "best": summary.best,
            "best_trial": None if best is None else best.number, "elapsed_s": elapsed,
            "estimate_s": estimate}


# --- handlers -------------------------------------------------------------------------


def list_searches(app: App, _p: dict[str, str], query: Query, _b: Any) -> tuple[int, Any]:
    states = query.get("state")
    for s in states or []:
        if s not in STATES:
            raise ApiError(400, f"state: unknown state {s!r}; choose from {list(STATES)}")
    study = query.get("study", [None])[0]
    if study is not None:
        try:
            check_study_name(study)
        except SubmissionError as exc:
            raise ApiError(400, str(exc)) from None
    jobs = app.queue.jobs(tuple(states) if states else None, study)
    return 200, {"searches": [j.to_json() for j in jobs]}


def submit(app: App, _p: dict[str, str], _q: Query, body: Any) -> tuple[int, Any]:
    try:
        sub = check_submission(body, app.spaces_dir, app.allow_custom)
        job = app.queue.submit(sub.study, sub.request)
    except SubmissionError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except JobConflict as exc:
        raise ApiError(409, f"study: {exc}") from None
    app.changed()
    return 201, job.to_json()


def status(app: App, params: dict[str, str], _q: Query, _b: Any) -> tuple[int, Any]:
    job = _job(app, params["id"])
    return 200, {**job.to_json(), "progress": _clean(progress(job, _snapshot(app, job.study)))}


def trials(app: App, params: dict[str, str], query: Query, _b: Any) -> tuple[int, Any]:
    from hpo.results import stop_note

    job = _job(app, params["id"])
    offset = _int(query, "offset", 0, 0, 10**9)
    limit = _int(query, "limit", 100, 1, MAX_PAGE)
    snap = _snapshot(app, job.study)
    records = sorted(snap.trials, key=lambda t: t.number) if snap is not None else []
    page = [{
        "number": t.number, "state": t.state, "params": t.params,
        "value": t.values[0] if t.values else None,
        "values": list(t.values) if t.values else None,
        "intermediate": {str(k): v for k, v in sorted(t.intermediate.items())},
        "start": t.start, "complete": t.complete, "note": stop_note(t),
    } for t in records[offset:offset + limit]]
    return 200, _clean({"study": job.study, "total": len(records), "offset": offset,
                        "limit": limit, "trials": page})


def cancel(app: App, params: dict[str, str], _q: Query, _b: Any) -> tuple[int, Any]:
    job = _job(app, params["id"])
    try:
        job = app.queue.cancel(job.id)
    except JobConflict as exc:
        raise ApiError(409, f"id: {exc}") from None
    app.changed()
    return 202, job.to_json()


def best(app: App, params: dict[str, str], _q: Query, _b: Any) -> tuple[int, Any]:
    from hpo.results import best_config

    job = _job(app, params["id"])
    snap = _snapshot(app, job.study)
    if snap is None:
        raise ApiError(404, f"id: search {job.id} has not created study {job.study!r} yet")
    try:
        return 200, _clean(best_config(snap))
    except ValueError as exc:
        raise ApiError(404, f"id: {exc}") from None


def export(app: App, params: dict[str, str], query: Query, _b: Any) -> tuple[int, Any]:
    """The promotion bundle of ``hpo export`` (``hpo.shipping``), as JSON; nothing is
    written anywhere, so no path from the request is ever used."""
    import json

    from hpo.shipping.bundle import build_bundle

    job = _job(app, params["id"])
    trial = _int(query, "trial", -1, 0, 10**9) if query.get("trial") else None
    if _snapshot(app, job.study) is None:
        raise ApiError(404, f"id: search {job.id} has not created study {job.study!r} yet")
    try:
        bundle = build_bundle(job.study, app.store.url, trial)
    except KeyError as exc:
        raise ApiError(404, f"id: {exc.args[0] if exc.args else exc}") from None
    except ValueError as exc:
        raise ApiError(404, f"trial: {exc}") from None
    return 200, _clean(json.loads(json.dumps(bundle, default=str)))


def studies(app: App, _p: dict[str, str], _q: Query, _b: Any) -> tuple[int, Any]:
    from hpo.results import StoreError, summaries

    try:
        found = summaries(app.store)
    except StoreError as exc:
        raise ApiError(503, f"store: {exc}") from None
    return 200, _clean({"studies": [s.as_dict() for s in found]})


def spaces(app: App, _p: dict[str, str], _q: Query, _b: Any) -> tuple[int, Any]:
    return 200, {"spaces": shipped_spaces(app.spaces_dir)}


_PAGE = (("offset", "integer", "first trial (by number) of the page, default 0"),
         ("limit", "integer", f"trials per page, 1-{MAX_PAGE}, default 100"))

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/searches", list_searches, "List searches, oldest first", "SearchList",
          query=(("state", "string", "only searches in this state (repeatable)"),
                 ("study", "string", "only searches of this study")), errors=(400,),
          reuse=True),
    Route("POST", "/api/v1/searches", submit, "Submit a search to the queue", "Search",
          status=201, body="Submission", errors=(400, 404, 409, 413, 415, 422)),
    Route("GET", "/api/v1/searches/{id}", status, "One search: its state and progress",
          "SearchStatus", errors=(400, 404), reuse=True),
    Route("GET", "/api/v1/searches/{id}/trials", trials, "The search's trials, paged",
          "TrialPage", query=_PAGE, errors=(400, 404), reuse=True),
    Route("POST", "/api/v1/searches/{id}/cancel", cancel, "Cancel a search", "Search",
          status=202, errors=(400, 404, 409)),
    Route("DELETE", "/api/v1/searches/{id}", cancel, "Cancel a search (same as POST .../cancel)",
          "Search", status=202, errors=(400, 404, 409)),
    Route("GET", "/api/v1/searches/{id}/best", best, "The best config found so far",
          "BestConfig", errors=(400, 404)),
    Route("GET", "/api/v1/searches/{id}/export", export,
          "The promotion bundle (as hpo export writes it): the finalize pick, else the best "
          "trial, or ?trial=N", "Bundle",
          query=(("trial", "integer", "this trial's bundle instead"),), errors=(400, 404)),
    Route("GET", "/api/v1/studies", studies, "Summaries of every study in the store",
          "StudyList", errors=(503,), reuse=True),
    Route("GET", "/api/v1/spaces", spaces, "The shipped spaces a submission may name",
          "SpaceList"),
)


def answer(app: App, route: Route, params: dict[str, str], query: Query,
           body: Any) -> tuple[int, Any]:
    """``route``'s answer; a reusable read comes from ``app.answers`` when fresh enough.

    Errors are never reused (an :class:`ApiError` passes through each time).
    """
    if not route.reuse:
        return route.handler(app, params, query, body)
    key = (route.path, tuple(sorted(params.items())),
           tuple(sorted((k, tuple(v)) for k, v in query.items())))
    return app.answers.get(key, lambda: route.handler(app, params, query, body))


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and ``path`` and its path parameters.

    Raises:
        ApiError: 404 for an unknown path, 405 for a known path with another method.
    """
    allowed = []
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            if route.method == method:
                return route, found.groupdict()
            allowed.append(route.method)
    if allowed:
        raise ApiError(405, f"method {method} not allowed on {path!r}; allowed: {allowed}")
    raise ApiError(404, f"path: no endpoint {path!r}")
