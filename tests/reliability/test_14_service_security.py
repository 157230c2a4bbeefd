"""RELIABILITY item 14, service security: the dashboard/API binds to 127.0.0.1 by default;
bound elsewhere it requires a token; study names and export paths cannot escape their
directory; YAML is loaded safely; nothing from a request is unpickled (or imported)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import call, make_service, space_text

__all__ = ["make_service"]  # the fixture, shared with tests/service

TOKEN = "s3cret-token-for-tests-only"


class _Touch:
    """Unpickling this creates ``path``: proof that a body was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_binds_to_loopback_by_default(make_service: Any) -> None:
    svc = make_service()
    assert svc.server.server_address[0] == "127.0.0.1"
    out = subprocess.run([sys.executable, "-m", "hpo", "serve", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert "default 127.0.0.1" in out.stdout


def test_elsewhere_it_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    from hpo.service._auth import ServiceConfigError
    from hpo.service._service import Service

    with pytest.raises(ServiceConfigError, match=r"'0\.0\.0\.0'.*HPO_TOKEN"):
        Service(f"sqlite:///{tmp_path / 's.db'}", None, host="0.0.0.0", port=0)
    env = {k: v for k, v in os.environ.items() if k != "HPO_TOKEN"}
    out = subprocess.run([sys.executable, "-m", "hpo", "serve", "--host", "0.0.0.0",
                          "--storage", f"sqlite:///{tmp_path / 's.db'}"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "--host '0.0.0.0'" in out.stderr and "HPO_TOKEN" in out.stderr
    # The token never comes from the command line, where `ps` shows it.
    out = subprocess.run([sys.executable, "-m", "hpo", "serve", "--token", TOKEN],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr
    short = tmp_path / "short"
    short.write_text("abc\n")
    out = subprocess.run([sys.executable, "-m", "hpo", "serve", "--host", "0.0.0.0",
                          "--token-file", str(short)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "at least 16" in out.stderr


def test_with_a_token_every_request_needs_it(make_service: Any, tmp_path: Path) -> None:
    svc = make_service(host="0.0.0.0", token=TOKEN)
    base = f"http://127.0.0.1:{svc.server.server_address[1]}"
    for path in ("/api/v1/searches", "/openapi.json", "/api/v1/studies"):
        assert call(base, "GET", path)[0] == 401
        assert call(base, "GET", path, token="wrong-" + TOKEN)[0] == 401
        assert call(base, "GET", path, token=TOKEN)[0] == 200
    assert call(base, "POST", "/api/v1/searches", {"space": space_text("sec-a")})[0] == 401
    assert call(base, "POST", "/api/v1/searches", {"space": space_text("sec-a")},
                token=TOKEN)[0] == 201
    # The dashboard's pages behind the same server want the token too.
    req = urllib.request.Request(base + "/studies")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 401


def test_without_a_token_only_this_machine_may_ask(make_service: Any) -> None:
    base = make_service().url_http
    code, body = call(base, "GET", "/api/v1/searches", headers={"Host": "evil.example:8080"})
    assert code == 403 and "evil.example" in body["error"]
    # No CORS unless configured: no allow-origin header, preflights refused.
    req = urllib.request.Request(base + "/api/v1/searches", headers={"Origin": "http://x.test"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers.get("Access-Control-Allow-Origin") is None
    assert call(base, "OPTIONS", "/api/v1/searches", headers={"Origin": "http://x.test"})[0] \
        == 405


@pytest.mark.parametrize("study", ["../../etc/passwd", "a/b", "..", ".hidden", "x" * 200,
                                   "name\x00nul", "C:\\win"])
def test_study_names_cannot_escape(make_service: Any, study: str) -> None:
    code, body = call(make_service().url_http, "POST", "/api/v1/searches",
                      {"space": space_text("sec-b"), "study": study})
    assert code == 400 and "study" in body["error"] and repr(study)[:40] in body["error"]


def test_shipped_space_names_cannot_escape_the_spaces_folder(make_service: Any,
                                                              tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(space_text("sec-secret"))
    svc = make_service()
    (tmp_path / "spaces" / "link.yaml").symlink_to(secret)
    base = svc.url_http
    for name in ("../secret", "/etc/passwd", "..%2Fsecret", "secret"):
        code, body = call(base, "POST", "/api/v1/searches", {"space_name": name})
        assert code in (400, 404) and repr(name) in body["error"], (name, body)
    code, body = call(base, "POST", "/api/v1/searches", {"space_name": "link"})
    assert code == 400 and "outside the spaces folder" in body["error"]
    # Paths in URLs: encoded separators and dot segments find no route and no file.
    for path in ("/api/v1/searches/..%2F..%2Fetc%2Fpasswd", "/api/v1/searches/../../etc",
                 "/static/..%2F_server.py"):
        assert call(base, "GET", path)[0] in (400, 404), path


def test_yaml_is_loaded_safely(make_service: Any, tmp_path: Path) -> None:
    marker = tmp_path / "yaml-ran"
    text = f"!!python/object/apply:os.system ['touch {marker}']\n"
    code, body = call(make_service().url_http, "POST", "/api/v1/searches",
                      {"space": text, "study": "sec-yaml"})
    assert code == 422 and "python/object/apply" in body["error"]
    assert not marker.exists()


def test_nothing_from_a_request_is_unpickled_or_imported(make_service: Any,
                                                         tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    base = make_service().url_http
    blob = pickle.dumps(_Touch(str(marker)))
    for ctype, expected in (("application/octet-stream", 415), ("application/json", 400),
                            ("application/python-pickle", 415)):
        code, _ = call(base, "POST", "/api/v1/searches", raw=blob,
                       headers={"Content-Type": ctype})
        assert code == expected
    assert not marker.exists()
    # A space naming code to import is refused unless the server allows custom code.
    for extra in ("trainable: os:system", "sampler: {name: 'os.path:join'}",
                  "scheduler: {name: 'tests._trainables:stop_high_x'}"):
        text = space_text("sec-code")
        key = extra.split(":", 1)[0]
        text = "\n".join(line for line in text.splitlines() if not line.startswith(key))
        code, body = call(base, "POST", "/api/v1/searches", {"space": f"{text}\n{extra}\n"})
        assert code == 422 and "names code to import" in body["error"], (extra, body)
