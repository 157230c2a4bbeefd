"""``hpo serve`` put together: store, queue, Ray jobs, dispatcher and the HTTP server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hpo.service._api import App
from hpo.service._dispatcher import Dispatcher
from hpo.service._queue import JobQueue
from hpo.service._ray_jobs import Launcher
from hpo.service._server import ServiceServer, default_spaces_dir


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute: the Ray jobs run elsewhere."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") \
            and url[len(prefix):] != ":memory:":
        return prefix + os.path.abspath(url[len(prefix):])
    return url


class Service:
    """Everything ``hpo serve`` runs, owned in one place and closed in reverse order.

    Args:
        storage: the store's URL (``hpo.storage.resolve_url`` decides when None).
        launcher: starts the jobs (:class:`hpo.service._ray_jobs.RayJobs`); None keeps
            submitted jobs queued until a server with one runs.
        host, port, token, cors_origin: the HTTP server's (see :class:`ServiceServer`).
        max_running: searches run at once.
        spaces_dir: the shipped spaces a submission may name.
        allow_custom: let submitted spaces name code to import (``module:function``).
        answer_max_age_s: how long one answer of a read route serves every client
            (:class:`hpo.service._answers.AnswerCache`; 0 reads the store every time).
    """

    def __init__(self, storage: str | None, launcher: Launcher | None, *,
                 host: str = "127.0.0.1", port: int = 8080, token: str | None = None,
                 cors_origin: str | None = None, max_running: int = 1,
                 spaces_dir: Path | None = None, allow_custom: bool = False,
                 poll_s: float = 1.0, cancel_grace_s: float = 30.0,
                 answer_max_age_s: float = 1.0) -> None:
        from hpo.results import Store
        from hpo.service._answers import AnswerCache
        from hpo.service._auth import check_bind
        from hpo.storage import resolve_url
        from hpo.storage._url import open_storage

        check_bind(host, token)
        self.url = absolute_url(resolve_url(storage))
        open_storage(self.url).engine.dispose()  # Optuna's tables, so readers find a store
        self.queue = JobQueue(self.url)
        self.store = Store(self.url)
        self.launcher = launcher
        self.dispatcher = None if launcher is None else Dispatcher(
            self.queue, launcher, self.url, max_running=max_running, poll_s=poll_s,
            cancel_grace_s=cancel_grace_s)
        wake = self.dispatcher.wake if self.dispatcher is not None else (lambda: None)
        app = App(queue=self.queue, store=self.store,
                  spaces_dir=spaces_dir if spaces_dir is not None else default_spaces_dir(),
                  allow_custom=allow_custom, on_change=wake,
                  answers=AnswerCache(answer_max_age_s))
        self.server = ServiceServer(app, host, port, token, cors_origin)
        self._thread: threading.Thread | None = None

    @property
    def url_http(self) -> str:
        return self.server.url.rstrip("/")

    def start(self, background: bool = False) -> None:
        """Recover the queue, start dispatching, then serve (in a thread if ``background``)."""
        if self.dispatcher is not None:
            self.dispatcher.start()
        if background:
            self._thread = threading.Thread(target=self.server.serve_forever,
                                            kwargs={"poll_interval": 0.2},
                                            name="hpo-service-http", daemon=True)
            self._thread.start()
        else:
            self.server.serve_forever(poll_interval=0.5)

    def close(self) -> None:
        """Stop serving and dispatching; running Ray jobs are left to the cluster."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=10)
        self.server.server_close()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.launcher is not None:
            self.launcher.close()
        self.store.close()
        self.queue.close()
