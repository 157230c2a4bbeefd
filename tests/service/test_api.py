"""The API over a real HTTP connection, with no Ray: what it answers, and every error code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.service.conftest import call, space_text


def test_submit_list_status_and_cancel_a_queued_search(make_service: Any) -> None:
    svc = make_service()
    base = svc.url_http
    code, job = call(base, "POST", "/api/v1/searches",
                     {"space": space_text("svc-q"), "trials": 5, "seed": 3})
    assert code == 201, job
    assert job["state"] == "queued" and job["study"] == "svc-q"
    assert job["request"]["trials"] == 5 and "space_text" not in job["request"]

    code, listed = call(base, "GET", "/api/v1/searches")
    assert code == 200 and [j["id"] for j in listed["searches"]] == [job["id"]]
    code, listed = call(base, "GET", "/api/v1/searches?state=running")
    assert code == 200 and listed["searches"] == []

    code, status = call(base, "GET", f"/api/v1/searches/{job['id']}")
    assert code == 200
    assert status["progress"]["target_trials"] == 5
    assert status["progress"]["n_trials"] == 0 and status["progress"]["best"] is None

    code, page = call(base, "GET", f"/api/v1/searches/{job['id']}/trials")
    assert code == 200 and page["total"] == 0 and page["trials"] == []

    # A second search of the same study while the first is active: 409.
    code, err = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-q")})
    assert code == 409 and "svc-q" in err["error"]

    code, cancelled = call(base, "POST", f"/api/v1/searches/{job['id']}/cancel")
    assert code == 202 and cancelled["state"] == "cancelled"
    assert cancelled["reason"] == "cancelled before it started"
    code, err = call(base, "DELETE", f"/api/v1/searches/{job['id']}")
    assert code == 409 and "already ended" in err["error"]

    # Once it ended the study may be submitted again.
    code, again = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-q")})
    assert code == 201 and again["id"] != job["id"]


def test_shipped_space_by_name(make_service: Any, tmp_path: Path) -> None:
    svc = make_service()
    (tmp_path / "spaces" / "tiny.yaml").write_text(space_text("tiny-space"))
    code, names = call(svc.url_http, "GET", "/api/v1/spaces")
    assert code == 200 and names["spaces"] == ["tiny"]
    code, job = call(svc.url_http, "POST", "/api/v1/searches",
                     {"space_name": "tiny", "study": "svc-tiny"})
    assert code == 201 and job["study"] == "svc-tiny"
    assert job["request"]["space_name"] == "tiny"
    code, err = call(svc.url_http, "POST", "/api/v1/searches", {"space_name": "nope"})
    assert code == 404 and "'nope'" in err["error"] and "tiny" in err["error"]


def test_bad_input_gets_the_right_code_and_names_field_and_value(make_service: Any) -> None:
    base = make_service().url_http
    cases: list[tuple[Any, int, str]] = [
        ({"space": space_text(), "trials": 0}, 422, "trials"),
        ({"space": space_text(), "trials": "many"}, 400, "'many'"),
        ({"space": space_text(), "colour": "red"}, 400, "colour"),
        ({}, 400, "space, space_name"),
        ({"space": "x: [1,", "study": "svc-bad"}, 422, "YAML syntax error"),
        ({"space": space_text().replace("low: 0.0, high: 1.0}", "low: 2.0, high: 1.0}", 1)},
         422, "low"),
        ({"space": space_text(), "time_budget": -1}, 422, "time_budget"),
        (["not", "an", "object"], 400, "JSON object"),
    ]
    for body, code, needle in cases:
        got, err = call(base, "POST", "/api/v1/searches", body)
        assert (got, needle in err["error"]) == (code, True), (body, got, err)
        assert err["status"] == code
    got, err = call(base, "POST", "/api/v1/searches", raw=b"{not json",
                    headers={"Content-Type": "application/json"})
    assert got == 400 and "not valid JSON" in err["error"]
    got, err = call(base, "POST", "/api/v1/searches", raw=b'{"space": "a"}',
                    headers={"Content-Type": "text/plain"})
    assert got == 415 and "'text/plain'" in err["error"]
    big = b'{"space": "' + b"#" * (1024 * 1024 + 10) + b'"}'
    got, err = call(base, "POST", "/api/v1/searches", raw=big,
                    headers={"Content-Type": "application/json"})
    assert got == 413 and "at most" in err["error"]
    got, err = call(base, "GET", "/api/v1/searches/0123456789ab")
    assert got == 404 and "'0123456789ab'" in err["error"]
    got, err = call(base, "GET", "/api/v1/searches/zz")
    assert got == 400 and "'zz'" in err["error"]
    got, err = call(base, "GET", "/api/v1/nothing-here")
    assert got == 404
    got, err = call(base, "PUT", "/api/v1/searches")
    assert got == 405 and "GET" in err["error"]
    got, err = call(base, "GET", "/api/v1/searches?state=sleeping")
    assert got == 400 and "'sleeping'" in err["error"]


def test_best_config_and_export(make_service: Any) -> None:
    base = make_service().url_http
    _, job = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-best")})
    code, err = call(base, "GET", f"/api/v1/searches/{job['id']}/best")
    assert code == 404 and "svc-best" in err["error"]
    code, err = call(base, "GET", f"/api/v1/searches/{job['id']}/export")
    assert code == 404 and "svc-best" in err["error"]
    code, err = call(base, "GET", f"/api/v1/searches/{job['id']}/export?trial=x")
    assert code == 400 and "'x'" in err["error"]


def test_studies_list_reads_the_store(make_service: Any) -> None:
    code, body = call(make_service().url_http, "GET", "/api/v1/studies")
    assert code == 200 and body == {"studies": []}


def test_the_dashboard_is_served_beside_the_api(make_service: Any) -> None:
    import urllib.request

    base = make_service().url_http
    with urllib.request.urlopen(base + "/studies", timeout=30) as resp:
        assert resp.status == 200 and b"<html" in resp.read().lower()
    code, body = call(base, "GET", "/api/studies")  # the dashboard's own endpoint
    assert code == 200 and "studies" in body


def test_a_blank_query_value_is_refused_not_taken_for_absent(make_service: Any) -> None:
    # Found by the schemathesis run: parse_qs dropped "offset=" and the page started at 0.
    base = make_service().url_http
    _, search = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-blank")})
    for query, field in (("offset=", "offset"), ("limit=", "limit")):
        got, err = call(base, "GET", f"/api/v1/searches/{search['id']}/trials?{query}")
        assert got == 400 and f"{field}: expected an integer, got ''" in err["error"], err
    got, err = call(base, "GET", f"/api/v1/searches/{search['id']}/export?trial=")
    assert got == 400 and "trial" in err["error"], err
    got, err = call(base, "GET", "/api/v1/searches?state=")
    assert got == 400 and "state: unknown state ''" in err["error"], err
    got, err = call(base, "GET", "/api/v1/searches?study=")
    assert got == 400 and "study" in err["error"], err


def test_polls_share_recent_answers_and_see_writes_at_once(make_service: Any) -> None:
    """Many status polls within the answer age cost one read; the server's own writes
    show at once; a change made elsewhere shows once the answer is older than its age."""
    import time

    svc = make_service(answer_max_age_s=0.5)
    base = svc.url_http
    _, job = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-age")})
    answers = svc.server.app.answers
    reads = answers.reads
    for _ in range(20):
        code, status = call(base, "GET", f"/api/v1/searches/{job['id']}")
        assert code == 200 and status["state"] == "queued"
    assert answers.reads - reads <= 2  # one read, two if the 20 polls crossed 0.5 s

    # Written elsewhere (here: straight into the queue, as a job's driver does).
    svc.queue.finish(job["id"], "failed", "driver crashed")
    _, status = call(base, "GET", f"/api/v1/searches/{job['id']}")
    seen_at = time.monotonic()
    while status["state"] != "failed":
        assert time.monotonic() - seen_at < 0.5 + 0.5, "a stale answer outlived its age"
        time.sleep(0.05)
        _, status = call(base, "GET", f"/api/v1/searches/{job['id']}")
    assert status["reason"] == "driver crashed"

    # Through the server: submit shows at once in the list it had answered before.
    _, listed = call(base, "GET", "/api/v1/searches")
    _, second = call(base, "POST", "/api/v1/searches", {"space": space_text("svc-age-2")})
    _, listed = call(base, "GET", "/api/v1/searches")
    assert second["id"] in [j["id"] for j in listed["searches"]]
    _, status = call(base, "GET", f"/api/v1/searches/{second['id']}")
    assert status["state"] == "queued"
    call(base, "POST", f"/api/v1/searches/{second['id']}/cancel")
    _, status = call(base, "GET", f"/api/v1/searches/{second['id']}")
    assert status["state"] == "cancelled"
