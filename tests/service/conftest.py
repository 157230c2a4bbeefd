"""A service started in-process over a throw-away SQLite store, and a tiny HTTP client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SPACE = """\
name: {name}
trainable: synthetic
objective: {{metric: score, direction: maximize}}
sampler: {{name: random, options: {{seed: 0}}}}
scheduler: fifo
budget: {{trials: {trials}, max_steps: {steps}}}
concurrency: 1
params:
  x: {{type: float, low: 0.0, high: 1.0}}
  y: {{type: float, low: 0.0, high: 1.0}}
  steps: {steps}
  sleep: {sleep}
"""


def space_text(name: str = "svc", trials: int = 3, steps: int = 3, sleep: float = 0.0) -> str:
    return SPACE.format(name=name, trials=trials, steps=steps, sleep=sleep)


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None, raw: bytes | None = None
         ) -> tuple[int, Any]:
    """One request; returns (status, decoded JSON body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None and raw is None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Starts :class:`hpo.service._service.Service` on a free port; closes them all after."""
    from hpo.service._service import Service

    made: list[Any] = []
    url = f"sqlite:///{tmp_path / 'store.db'}"

    def make(launcher: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("spaces_dir", tmp_path / "spaces")
        (tmp_path / "spaces").mkdir(exist_ok=True)
        service = Service(kwargs.pop("storage", url), launcher, **kwargs)
        service.start(background=True)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()
