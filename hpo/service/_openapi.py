"""The OpenAPI 3.1 document of ``/api/v1``, generated from the route table.

Paths, methods, parameters, request bodies and status codes come from
:data:`hpo.service._api.ROUTES`, the table the server dispatches on, so the document
cannot list an endpoint the server lacks or miss one it has. The schemas below describe
the bodies; ``tests/service/test_openapi.py`` checks real answers against them.
"""

from __future__ import annotations

import re
from typing import Any

from hpo._version import __version__
from hpo.service._api import ROUTES, Route
from hpo.service._queue import STATES

_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "status"],
              "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
    "Submission": {
        "type": "object", "additionalProperties": False,
        "description": "Exactly one of space (a space file's YAML) and space_name.",
        "properties": {
            "space": {"type": "string", "description": "a space file's text (YAML)"},
            "space_name": {"type": "string", "description": "a shipped space (GET /spaces)"},
            "study": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
            "trials": {"type": "integer", "minimum": 1},
            "concurrency": {"type": "integer", "minimum": 1},
            "time_budget": {"type": "number", "exclusiveMinimum": 0},
            "seed": {"type": "integer"},
            "test_score": {"type": "boolean"},
            "stale_after": {"type": "number", "exclusiveMinimum": 0},
        },
    },
    "Search": {
        "type": "object",
        "required": ["id", "study", "state", "submitted_at", "attempt", "request"],
        "properties": {
            "id": {"type": "string"}, "study": {"type": "string"},
            "state": {"type": "string", "enum": list(STATES)},
            "submitted_at": {"type": "number"}, "started_at": _NUM, "ended_at": _NUM,
            "ray_job": _STR, "attempt": {"type": "integer"}, "reason": _STR,
            "request": {"type": "object"},
        },
    },
    "SearchList": {"type": "object", "required": ["searches"], "properties": {
        "searches": {"type": "array", "items": {"$ref": "#/components/schemas/Search"}}}},
    "Progress": {
        "type": "object",
        "required": ["counts", "n_trials", "best", "elapsed_s", "estimate_s"],
        "properties": {
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "n_trials": {"type": "integer"}, "target_trials": {"type": ["integer", "null"]},
            "best": _NUM, "best_trial": {"type": ["integer", "null"]},
            "elapsed_s": _NUM, "estimate_s": _NUM,
        },
    },
    "SearchStatus": {"allOf": [{"$ref": "#/components/schemas/Search"}, {
        "type": "object", "required": ["progress"],
        "properties": {"progress": {"$ref": "#/components/schemas/Progress"}}}]},
    "Trial": {
        "type": "object", "required": ["number", "state", "params", "intermediate"],
        "properties": {
            "number": {"type": "integer"}, "state": {"type": "string"},
            "params": {"type": "object"}, "value": _NUM,
            "values": {"type": ["array", "null"], "items": _NUM},
            "intermediate": {"type": "object", "additionalProperties": _NUM},
            "start": _NUM, "complete": _NUM, "note": {"type": "string"},
        },
    },
    "TrialPage": {
        "type": "object", "required": ["study", "total", "offset", "limit", "trials"],
        "properties": {
            "study": {"type": "string"}, "total": {"type": "integer"},
            "offset": {"type": "integer"}, "limit": {"type": "integer"},
            "trials": {"type": "array", "items": {"$ref": "#/components/schemas/Trial"}},
        },
    },
    "BestConfig": {"type": "object", "description": "hpo best STUDY --format json"},
    "Bundle": {"type": "object", "required": ["format", "trainable", "config", "provenance"],
               "description": "hpo export's promotion bundle (docs/shipping.md)",
               "properties": {"format": {"type": "string"}, "trainable": {"type": "string"},
                              "config": {"type": "object"},
                              "provenance": {"type": "object"}}},
    "StudyList": {"type": "object", "required": ["studies"], "properties": {
        "studies": {"type": "array", "items": {"type": "object"}}}},
    "SpaceList": {"type": "object", "required": ["spaces"], "properties": {
        "spaces": {"type": "array", "items": {"type": "string"}}}},
}

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad request",
            401: "Missing or wrong token", 404: "Not found", 405: "Method not allowed",
            409: "Conflict with the search's state", 413: "Body too large",
            415: "Body is not JSON", 422: "Invalid search space or values",
            503: "The store cannot be read"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, code: int) -> dict[str, Any]:
    return {"description": _REASONS.get(code, "Answer"),
            "content": {"application/json": {"schema": _ref(name)}}}


def _operation(route: Route, secured: bool) -> dict[str, Any]:
    op_id = route.handler.__name__ + ("_delete" if route.method == "DELETE" else "")
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", route.path)]
    params += [{"name": name, "in": "query", "required": False, "description": desc,
                "schema": {"type": kind}} for name, kind, desc in route.query]
    responses = {str(route.status): _json(route.response, route.status)}
    for code in (*route.errors, *((401,) if secured else ())):
        responses.setdefault(str(code), _json("Error", code))
    op: dict[str, Any] = {"operationId": op_id, "summary": route.summary,
                          "responses": responses}
    if route.reuse:
        op["description"] = ("The answer may be up to the server's --answer-max-age seconds "
                             "old (default 1 s), shared by every client that asks within "
                             "that time; submits and cancels through this server show at "
                             "once.")
    if params:
        op["parameters"] = params
    if route.body:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(route.body)}}}
    return op


def document(secured: bool = False) -> dict[str, Any]:
    """The OpenAPI document; ``secured`` adds the bearer scheme (a server with a token)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, secured)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "hpo service", "version": __version__,
                 "description": "Launch, watch and cancel hyperparameter searches."},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
