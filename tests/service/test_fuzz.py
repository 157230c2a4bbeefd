"""A seeded fuzz run of the API with domain-aware values, beside schemathesis' run.

``test_schemathesis.py`` draws requests from the OpenAPI document alone, so its bodies
carry random strings where a space file goes and its ids are random text. This run keeps
what only knowledge of the domain reaches: valid space files (so submissions succeed, 201,
and later ones for the same study conflict, 409), YAML that a safe loader must refuse
(``!!python/object/apply``, unclosed flows), and hostile ids and query values (``../``
paths, ``%00``, 600-character names, SQL-looking text) for the path and query parameters.
Requests are drawn, with a fixed seed, from the document's operations; every answer must
be a documented status of its operation (never a 500) and match the schema documented
for that status.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

import jsonschema

from tests.service.conftest import call, space_text

HOSTILE = ["", "0123456789ab", "../../etc/passwd", "%00", "a" * 600, "ü🙂", "-1", "1e309",
           "NaN", "null", "{}", "' OR 1=1 --", "\\", "//", "."]
VALUES: list[Any] = [None, True, False, 0, -1, 1, 2**63, 1.5, -0.0, float("inf"), "", "x",
                     "9" * 50, [], {}, [1, "a"], {"a": 1}]


def _string(rng: random.Random) -> str:
    return rng.choice([*HOSTILE, str(rng.randint(-5, 10**6)), "queued", "running"])


def _body(rng: random.Random, schema: dict[str, Any]) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(VALUES)
    body: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if rng.random() < 0.5:
            continue
        if rng.random() < 0.5:
            body[name] = rng.choice(VALUES)
        elif name == "space":
            body[name] = rng.choice([space_text(f"fz-{rng.randint(0, 5)}"), "a: [", "- 1\n",
                                     "!!python/object/apply:os.getcwd []", "{}"])
        elif prop.get("type") == "integer":
            body[name] = rng.choice([rng.randint(-3, 50), 0])
        elif prop.get("type") == "number":
            body[name] = rng.choice([rng.uniform(-5, 100), 0.0])
        elif prop.get("type") == "boolean":
            body[name] = rng.random() < 0.5
        else:
            body[name] = _string(rng)
    if rng.random() < 0.2:
        body[_string(rng) or "extra"] = rng.choice(VALUES)
    return body


def test_fuzzed_requests_get_documented_answers(make_service: Any) -> None:
    base = make_service().url_http
    _, doc = call(base, "GET", "/openapi.json")
    components = doc["components"]
    operations = [(path, method, op) for path, ops in doc["paths"].items()
                  for method, op in ops.items()]
    rng = random.Random(20261202)
    seen: dict[int, int] = {}
    for _ in range(400):
        path, method, op = rng.choice(operations)
        concrete = path.replace("{id}", quote(_string(rng), safe=""))
        query = [f"{p['name']}={quote(_string(rng), safe='')}"
                 for p in op.get("parameters", []) if p["in"] == "query" and rng.random() < 0.6]
        url = concrete + (f"?{'&'.join(query)}" if query else "")
        body = None
        if "requestBody" in op:
            body = _body(rng, components["schemas"]["Submission"])
        try:
            code, answer = call(base, method.upper(), url, body)
        except ValueError:  # a body that json.dumps refuses (inf is not JSON): skip it
            continue
        seen[code] = seen.get(code, 0) + 1
        assert code != 500, (method, url, body, answer)
        documented = op["responses"].get(str(code))
        if documented is None:
            # An empty id makes it another path: unknown (404) or another method's (405).
            unknown = code == 404 and "no endpoint" in answer["error"]
            assert unknown or code == 405, (method, url, code, answer)
            continue
        ref = documented["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator({**ref, "components": components}).validate(answer)
    # The run reached successes and refusals of several kinds, not only one answer.
    assert len(seen) >= 4 and any(200 <= c < 300 for c in seen), seen
