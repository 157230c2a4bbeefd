"""Schemathesis fuzzes every operation of the API from the server's own ``/openapi.json``.

The server is a real one on a free port (no Ray: submitted searches stay queued), with a
token, so the document it serves is the secured one and schemathesis sends the token
through its own bearer auth (its negative cases may then leave it out or break it). For
each operation schemathesis
draws requests that fit the document and requests that break it (wrong types, missing
required bodies, fields the Submission schema forbids) and checks every answer: never a
5xx, a status the operation documents, the documented content type, a body matching the
documented schema, schema-breaking requests refused with a 4xx, and no answer without
the token other than 401.

The operations are driven through schemathesis' Python API (``as_strategy`` under
Hypothesis' ``given``) rather than its ``from_fixture`` pytest loader, which reads a
private attribute pytest 9 no longer has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.service.conftest import call, space_text

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402  (after the importorskip)

CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance", "negative_data_rejection", "ignored_auth")
MODES = ("positive", "negative")
TOKEN = "st-fuzz-token"


def _run_operation(operation: Any, mode: str, checks: list[Any], seen: dict[str, int],
                   path_parameters: dict[str, str] | None = None) -> None:
    @settings(max_examples=25, deadline=5000, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    # Negative cases can always break the operation's bearer header, so none is unsatisfiable.
    @given(case=operation.as_strategy(schemathesis.GenerationMode(mode),
                                          path_parameters=path_parameters))
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(checks=checks, timeout=30)
        seen[str(response.status_code)] = seen.get(str(response.status_code), 0) + 1

    fuzz()


def test_every_operation_answers_as_documented(make_service: Callable[..., Any]) -> None:
    base = make_service(token=TOKEN).url_http
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"bearer": {"bearer": TOKEN}}}})
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=config, timeout=30,
                                           headers={"Authorization": f"Bearer {TOKEN}"})
    # Looked up by name: schemathesis registers its checks in a registry at import time.
    checks = [getattr(schemathesis.checks, name) for name in CHECK_NAMES]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    # Drawn ids never name a search, so the {id} operations also run on a real one (its
    # queries and headers still drawn): that reaches their parsing of offset, limit, trial.
    code, search = call(base, "POST", "/api/v1/searches", {"space": space_text("st-fuzz")},
                        token=TOKEN)
    assert code == 201, search
    seen: dict[str, int] = {}
    for operation in operations:
        runs: list[tuple[str, dict[str, str] | None]] = [(mode, None) for mode in MODES]
        if "{id}" in operation.path:
            runs += [(mode, {"id": search["id"]}) for mode in MODES]
        for mode, path_parameters in runs:
            try:
                _run_operation(operation, mode, checks, seen, path_parameters)
            except Exception as exc:  # name the run; schemathesis' report is the cause
                raise AssertionError(
                    f"{operation.label}, {mode} data, path {path_parameters}") from exc
    # The run got successes, refusals of bad input and of a missing token, not one answer.
    assert {"200", "400", "401"} <= set(seen), seen
