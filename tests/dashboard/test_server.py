"""HTTP behaviour: endpoints, study-name checks, token rule, Host check, report, CLI wiring."""

from __future__ import annotations

import argparse
import http.client
import json
import threading

import pytest

from hpo.dashboard._server import DashboardError, DashboardServer, is_loopback


@pytest.fixture(scope="module")
def server(store):
    srv = DashboardServer(store, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, path, headers=None):
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body


def test_studies_api_and_pages(server):
    status, _, body = get(server, "/api/studies")
    data = json.loads(body)
    assert status == 200 and [s["name"] for s in data["studies"]] == [
        "bert-sst2", "roberta-sst2", "multi-obj", "empty"]
    for path in ("/", "/studies", "/study/bert-sst2", "/compare?study=bert-sst2&study=empty"):
        status, headers, body = get(server, path)
        assert status == 200 and headers["Content-Type"].startswith("text/html"), path
    status, headers, body = get(server, "/static/plotly.min.js")
    assert status == 200 and len(body) > 1_000_000
    full = len(body)
    status, headers, body = get(server, "/static/plotly-cartesian.min.js")
    assert status == 200 and 1_000_000 < len(body) < full / 2
    assert headers["Content-Type"] == "application/javascript"


def test_study_api_panels_and_options(server):
    status, _, body = get(server, "/api/study/bert-sst2?panel=curves&metric=eval_loss"
                                  "&panel=table")
    data = json.loads(body)
    assert status == 200 and set(data["figures"]) == {"curves"}
    assert "eval_loss" in data["figures"]["curves"]["layout"]["title"]["text"]
    assert len(data["table"]["rows"]) == 24 and data["revision"] >= 1
    status, _, body = get(server, "/api/study/bert-sst2?panel=pie")
    assert status == 400 and "'pie'" in json.loads(body)["error"]
    status, _, body = get(server, "/api/study/bert-sst2?panel=curves&metric=bogus")
    assert status == 400 and "'bogus'" in json.loads(body)["error"]
    status, _, body = get(server, "/api/study/multi-obj?panel=pareto")
    assert json.loads(body)["figures"]["pareto"] is not None


def test_unknown_and_invalid_study_names(server):
    status, _, body = get(server, "/study/nope")
    assert status == 404 and "'nope'" in json.loads(body)["error"]
    status, _, body = get(server, "/api/study/bad%0Aname")
    assert status == 400 and "invalid study name" in json.loads(body)["error"]
    status, _, _ = get(server, "/study/" + "x" * 600)
    assert status == 400


def test_compare_and_revision(server):
    status, _, body = get(server, "/api/compare?study=bert-sst2&study=roberta-sst2")
    data = json.loads(body)
    assert status == 200 and set(data["figures"]) == {
        "best_vs_time", "best_vs_compute", "best_vs_trials", "curves", "importance"}
    assert data["metrics"][0] == "objective" and "eval_loss" in data["metrics"]
    assert data["best_configs"]["studies"] == ["bert-sst2", "roberta-sst2"]
    status, _, body = get(server, "/api/revision?study=bert-sst2&study=empty")
    assert len(json.loads(body)["revision"]) == 2


def test_foreign_host_header_is_refused(server):
    status, _, _ = get(server, "/api/studies", {"Host": "evil.example:80"})
    assert status == 403
    status, _, _ = get(server, "/api/studies", {"Host": "localhost:1234"})
    assert status == 200


def test_public_bind_requires_token(store):
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("0.0.0.0")
    with pytest.raises(DashboardError, match=r"'0\.0\.0\.0'"):
        DashboardServer(store, "0.0.0.0", 0)


def test_token_required_on_every_request(store):
    srv = DashboardServer(store, "127.0.0.1", 0, token="s3cret")
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    try:
        assert get(srv, "/api/studies")[0] == 401
        assert get(srv, "/api/studies?token=wrong")[0] == 401
        status, headers, _ = get(srv, "/studies?token=s3cret")
        assert status == 200 and "hpo_token=s3cret" in headers["Set-Cookie"]
        assert get(srv, "/api/studies", {"Cookie": "hpo_token=s3cret"})[0] == 200
        assert get(srv, "/api/studies", {"Authorization": "Bearer s3cret"})[0] == 200
        assert get(srv, "/api/studies", {"Authorization": "Bearer nope"})[0] == 401
    finally:
        srv.shutdown()
        srv.server_close()


def test_saved_dashboard_served_at_root(store):
    from hpo.dashboard._config import parse_dashboard

    board = parse_dashboard({"studies": ["*-sst2"], "panels": ["summary", "best_configs"],
                             "filters": {"states": ["COMPLETE"]}})
    srv = DashboardServer(store, "127.0.0.1", 0, dashboard=board)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    try:
        status, _, body = get(srv, "/")
        assert status == 200 and b'"dashboard": "1"' in body
        data = json.loads(get(srv, "/api/compare?dashboard=1&panel=summary")[2])
        assert data["studies"] == ["bert-sst2", "roberta-sst2"]
        assert all(set(s["counts"]) and s["counts"]["PRUNED"] == 0 for s in data["summaries"])
    finally:
        srv.shutdown()
        srv.server_close()


def test_cli_registration_and_report(store_url, tmp_path, monkeypatch):
    from hpo.dashboard import register

    parser = argparse.ArgumentParser(prog="hpo")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dashboard", "dashboards/lr_vs_lora.yaml", "--port", "0"])
    assert args.dashboard_yaml == "dashboards/lr_vs_lora.yaml" and args.host == "127.0.0.1"
    assert callable(args.func) and args.storage is None
    out = tmp_path / "r" / "report.html"
    args = parser.parse_args(["report", "bert-sst2", "--out", str(out), "--storage", store_url])
    assert args.func(args) == 0
    html = out.read_text()
    assert "https://" not in html.split("<script>window.HPO=")[1][:200]
    # plotly.js inline: the cartesian bundle, which draws every panel of the report
    assert '"static": true' in html and 1_400_000 < len(html) < 4_000_000
    assert "plotly.js (cartesian - minified) v" in html
    args = parser.parse_args(["report", "nope", "--out", str(out), "--storage", store_url])
    assert args.func(args) == 2
    monkeypatch.setenv("HPO_STORAGE", store_url)
    args = parser.parse_args(["dashboard", "--host", "0.0.0.0", "--port", "0"])
    assert args.func(args) == 2  # public address without a token


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, hpo.dashboard; "
            "print(any(m in sys.modules for m in ('optuna', 'plotly', 'sqlalchemy')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_views_compute_each_panel_once_under_concurrent_requests(store):
    import time

    from hpo.dashboard._views import Views

    views, calls = Views(store), []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "x"

    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(views._cached(("k",), slow)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["x"] * 3 and len(calls) == 1
    with pytest.raises(ZeroDivisionError):  # a failure is not cached, and frees the key
        views._cached(("bad",), lambda: 1 / 0)
    assert views._cached(("bad",), lambda: "ok") == "ok"



def test_panels_are_cached_by_the_options_they_read(server, monkeypatch):
    """A history drawn for one evaluator or time zone serves every other; the timeline,
    which reads the zone, gets one entry per zone."""
    from hpo.dashboard import _views

    made: list[str] = []
    real = _views.study_figure
    monkeypatch.setattr(_views, "study_figure",
                        lambda snap, panel, opts: made.append(panel) or real(snap, panel, opts))
    for query in ("evaluator=ped-anova&tz=UTC", "evaluator=fanova&tz=Asia/Tokyo&style=lines"):
        status, _, body = get(server, f"/api/study/roberta-sst2?panel=history&panel=timeline"
                                      f"&{query}")
        assert status == 200 and set(json.loads(body)["figures"]) == {"history", "timeline"}
    assert made.count("history") == 1 and made.count("timeline") == 2


@pytest.mark.skipif(__import__("shutil").which("ss") is None, reason="ss (iproute2) missing")
def test_listen_backlog_takes_a_burst_of_clients(server):
    """socketserver's default backlog of 5 drops connections from a burst of pollers (each
    then waits 1 s for TCP's retry); the kernel reports the backlog as a listener's Send-Q."""
    import subprocess

    port = server.server_address[1]
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                         text=True, check=True).stdout.split()
    somaxconn = int(open("/proc/sys/net/core/somaxconn").read())
    assert int(out[2]) == min(256, somaxconn), out
