"""``/openapi.json`` matches what the server does: same routes, answers fit the schemas."""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from hpo.service._api import ROUTES
from tests.service.conftest import call, space_text


def _validator(doc: dict[str, Any], name: str) -> Any:
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def _schema_name(doc: dict[str, Any], path: str, method: str, code: int) -> str:
    ref = doc["paths"][path][method]["responses"][str(code)]["content"]["application/json"]
    return str(ref["schema"]["$ref"].rsplit("/", 1)[1])


def test_document_lists_exactly_the_routes_the_server_answers(make_service: Any) -> None:
    base = make_service().url_http
    code, doc = call(base, "GET", "/openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(r.method, r.path) for r in ROUTES}
    # Every documented operation is routed: with a well-formed but unknown id the answer
    # is the route's own 404 ("no search ..."), never "no endpoint" or 405.
    for method, path in documented:
        concrete = path.replace("{id}", "0123456789ab")
        body = {"space": space_text("svc-doc")} if method == "POST" and "{" not in path \
            else None
        code, answer = call(base, method, concrete, body)
        assert code != 405 and "no endpoint" not in str(answer), (method, path, answer)
        documented_codes = set(doc["paths"][path][method.lower()]["responses"])
        assert str(code) in documented_codes, (method, path, code, answer)
        name = _schema_name(doc, path, method.lower(), code)
        _validator(doc, name).validate(answer)
    # An undocumented path is not answered.
    code, _ = call(base, "GET", "/api/v1/secret")
    assert code == 404


def test_answers_fit_their_schemas(make_service: Any) -> None:
    base = make_service().url_http
    _, doc = call(base, "GET", "/openapi.json")
    code, job = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-schema")})
    _validator(doc, _schema_name(doc, "/api/v1/searches", "post", code)).validate(job)
    for path in ("/api/v1/searches", f"/api/v1/searches/{job['id']}",
                 f"/api/v1/searches/{job['id']}/trials", "/api/v1/studies", "/api/v1/spaces"):
        code, answer = call(base, "GET", path)
        template = re.sub(r"/[0-9a-f]{12}", "/{id}", path)
        _validator(doc, _schema_name(doc, template, "get", code)).validate(answer)
    code, err = call(base, "POST", "/api/v1/searches", {"trials": -1, "space": "x"})
    _validator(doc, "Error").validate(err)
    assert str(code) in doc["paths"]["/api/v1/searches"]["post"]["responses"]


def test_a_server_with_a_token_documents_the_bearer_scheme(make_service: Any) -> None:
    token = "t" * 24
    code, doc = call(make_service(token=token).url_http, "GET", "/openapi.json", token=token)
    assert code == 200 and doc["security"] == [{"bearer": []}]
    assert "401" in doc["paths"]["/api/v1/searches"]["get"]["responses"]
