"""The job queue: one table, ``hpo_service_jobs``, in the store's own database.

Optuna's tables are left as they are (the store stays Optuna's); the queue is a table
of its own beside them, so a submitted search survives a server restart and every
front end that reaches the store can see it. SQLAlchemy Core, as Optuna itself uses,
so SQLite and PostgreSQL both work.

A job moves ``queued -> running -> succeeded | failed | cancelled``, or
``running -> cancelling -> cancelled``; a queued job can be cancelled at once.
Each start of a job is an *attempt*: a job resumed after a server restart gets a new
attempt number, and only the driver of the current attempt may record the outcome.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = "hpo_service_jobs"
QUEUED, RUNNING, CANCELLING = "queued", "running", "cancelling"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING, CANCELLING)
STATES = (QUEUED, RUNNING, CANCELLING, SUCCEEDED, FAILED, CANCELLED)


class JobConflict(Exception):
    """The job is not in a state that allows what was asked (HTTP 409)."""


@dataclass(frozen=True)
class Job:
    """One submitted search as the queue holds it."""

    id: str
    study: str
    state: str
    request: dict[str, Any]
    submitted_at: float
    started_at: float | None
    ended_at: float | None
    ray_job: str | None
    attempt: int
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        req = {k: v for k, v in self.request.items() if k != "space_text"}
        return {"id": self.id, "study": self.study, "state": self.state,
                "submitted_at": self.submitted_at, "started_at": self.started_at,
                "ended_at": self.ended_at, "ray_job": self.ray_job, "attempt": self.attempt,
                "reason": self.reason, "request": req}


def _table(metadata: Any) -> Any:
    from sqlalchemy import Column, Float, Integer, String, Table, Text

    return Table(
        TABLE, metadata,
        Column("id", String(32), primary_key=True),
        Column("study", String(512), nullable=False, index=True),
        Column("state", String(16), nullable=False, index=True),
        Column("request", Text, nullable=False),
        Column("submitted_at", Float, nullable=False),
        Column("started_at", Float),
        Column("ended_at", Float),
        Column("ray_job", String(128)),
        Column("attempt", Integer, nullable=False, default=0),
        Column("reason", Text),
    )


class JobQueue:
    """The queue table of the store at ``url`` (created when missing).

    Thread-safe: every method is one short transaction on a pooled connection.
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy import MetaData, create_engine

        from hpo.storage._url import _engine_kwargs, _sqlite_pragmas

        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = create_engine(url, **_engine_kwargs(url))
        if url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        self._meta = MetaData()
        self.table = _table(self._meta)
        self._meta.create_all(self.engine, checkfirst=True)
        # Two threads of one server must not both see "no active job on this study".
        self._submit_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def _row(self, row: Any) -> Job:
        m = row._mapping
        return Job(id=m["id"], study=m["study"], state=m["state"],
                   request=json.loads(m["request"]), submitted_at=m["submitted_at"],
                   started_at=m["started_at"], ended_at=m["ended_at"], ray_job=m["ray_job"],
                   attempt=m["attempt"], reason=m["reason"])

    def submit(self, study: str, request: dict[str, Any]) -> Job:
        """Queue a search of ``study``.

        Raises:
            JobConflict: a job on the same study is still queued or running (two drivers
                on one study would share its trial budget, which is not what a second
                submission means).
        """
        from sqlalchemy import select

        t = self.table
        with self._submit_lock, self.engine.begin() as conn:
            active = conn.execute(select(t.c.id, t.c.state).where(
                t.c.study == study, t.c.state.in_(ACTIVE))).first()
            if active is not None:
                raise JobConflict(f"study {study!r} already has job {active.id} "
                                  f"({active.state}); cancel it or wait for it to end")
            job_id = uuid.uuid4().hex[:12]
            conn.execute(t.insert().values(
                id=job_id, study=study, state=QUEUED, request=json.dumps(request),
                submitted_at=time.time(), attempt=0))
        return self._must_get(job_id)

    def get(self, job_id: str) -> Job | None:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            row = conn.execute(select(self.table).where(self.table.c.id == job_id)).first()
        return None if row is None else self._row(row)

    def _must_get(self, job_id: str) -> Job:
        found = self.get(job_id)
        if found is None:  # jobs are never deleted
            raise RuntimeError(f"job {job_id} vanished from {TABLE}")
        return found

    def jobs(self, states: tuple[str, ...] | None = None, study: str | None = None
             ) -> list[Job]:
        """Jobs, oldest first, optionally only in ``states`` or of one ``study``."""
        from sqlalchemy import select

        t = self.table
        query = select(t).order_by(t.c.submitted_at, t.c.id)
        if states is not None:
            query = query.where(t.c.state.in_(states))
        if study is not None:
            query = query.where(t.c.study == study)
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(query)]

    def latest_for_study(self, study: str) -> Job | None:
        found = self.jobs(study=study)
        return found[-1] if found else None

    def _update(self, job_id: str, expect: tuple[str, ...], at_attempt: int | None = None,
                **values: Any) -> bool:
        """Set ``values`` if the job is in one of ``expect`` (and at ``at_attempt``)."""
        from sqlalchemy import update

        t = self.table
        cond = [t.c.id == job_id, t.c.state.in_(expect)]
        if at_attempt is not None:
            cond.append(t.c.attempt == at_attempt)
        with self.engine.begin() as conn:
            return bool(conn.execute(update(t).where(*cond).values(**values)).rowcount)

    def start(self, job: Job, ray_job: str) -> bool:
        """Mark a queued job running as attempt ``job.attempt + 1`` of Ray job ``ray_job``."""
        return self._update(job.id, (QUEUED,), state=RUNNING, ray_job=ray_job,
                            attempt=job.attempt + 1, started_at=time.time())

    def requeue(self, job: Job, reason: str) -> bool:
        """Put a job whose driver vanished back in the queue (it resumes its study)."""
        return self._update(job.id, (RUNNING, CANCELLING), at_attempt=job.attempt, state=QUEUED,
                            reason=reason)

    def finish(self, job_id: str, state: str, reason: str | None,
               attempt: int | None = None) -> bool:
        """Record the outcome; False if the job had already ended (or moved on)."""
        if state not in (SUCCEEDED, FAILED, CANCELLED):
            raise ValueError(f"state: not an end state, got {state!r}")
        return self._update(job_id, ACTIVE, at_attempt=attempt, state=state, reason=reason,
                            ended_at=time.time())

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one ends at once, a running one is asked to stop.

        Raises:
            KeyError: no such job.
            JobConflict: the job has already ended.
        """
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.state == QUEUED and self.finish(job_id, CANCELLED, "cancelled before it started",
                                               attempt=job.attempt):
            pass
        elif job.state == RUNNING:
            self._update(job_id, (RUNNING,), state=CANCELLING, reason="cancel requested")
        elif job.state != CANCELLING:
            raise JobConflict(f"job {job_id} has already ended ({job.state})")
        found = self._must_get(job_id)
        if found.state not in (CANCELLING, CANCELLED):
            raise JobConflict(f"job {job_id} ended ({found.state}) before it could be cancelled")
        return found
