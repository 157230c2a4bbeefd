"""A small client of the service's API for ``hpo run --server``, ``hpo status``, ``hpo cancel``.

Standard library only (``urllib``). The server is ``--server URL`` or ``$HPO_SERVER``;
the token, when the server needs one, is ``$HPO_TOKEN``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

SERVER_ENV = "HPO_SERVER"


class ClientError(RuntimeError):
    """The server refused or could not be reached; ``status`` is the HTTP code (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def server_url(given: str | None) -> str | None:
    """``--server`` if given, else ``$HPO_SERVER``, else None (run locally)."""
    return (given or os.environ.get(SERVER_ENV) or "").rstrip("/") or None


class Client:
    def __init__(self, base: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.token = token if token is not None else (os.environ.get("HPO_TOKEN") or None)
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: Any = None,
             query: dict[str, Any] | None = None) -> Any:
        url = f"{self.base}{path}" + (f"?{urlencode(query, doseq=True)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise ClientError(f"{self.base}: {exc.code}: {message}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"{self.base}: cannot reach the server: {reason}") from None

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/api/v1/searches", body))

    def search(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/searches/{quote(job_id, safe='')}"))

    def find(self, id_or_study: str) -> dict[str, Any]:
        """The search with this id, else the latest search of this study."""
        found = self.call("GET", "/api/v1/searches", query={"study": id_or_study}) \
            if not _looks_like_id(id_or_study) else None
        if found and found["searches"]:
            return self.search(found["searches"][-1]["id"])
        if _looks_like_id(id_or_study):
            return self.search(id_or_study)
        raise ClientError(f"{self.base}: no search of study {id_or_study!r}", 404)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/searches/{quote(job_id, safe='')}/cancel"))


def _looks_like_id(text: str) -> bool:
    return len(text) == 12 and all(c in "0123456789abcdef" for c in text)
