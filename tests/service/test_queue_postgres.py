"""The job queue on PostgreSQL, in a database of its own, through the API as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hpo.service._queue import JobConflict, JobQueue
from tests.service.conftest import call, space_text

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    import sqlalchemy

    name = f"svc_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_queue_on_postgresql(own_database: str, make_service: Any) -> None:
    queue = JobQueue(own_database)
    job = queue.submit("svc-pg", {"trials": 2})
    with pytest.raises(JobConflict, match="svc-pg"):
        queue.submit("svc-pg", {})
    assert queue.start(job, "hpo-x-1")
    running = queue.get(job.id)
    assert running is not None and (running.state, running.attempt) == ("running", 1)
    assert queue.cancel(job.id).state == "cancelling"
    assert not queue.finish(job.id, "cancelled", "stale attempt", attempt=0)
    assert queue.finish(job.id, "cancelled", "cancelled", attempt=1)
    queue.close()

    svc = make_service(storage=own_database)  # the same table, read through the API
    code, listed = call(svc.url_http, "GET", "/api/v1/searches")
    assert code == 200 and [(j["id"], j["state"]) for j in listed["searches"]] == [
        (job.id, "cancelled")]
    code, new = call(svc.url_http, "POST", "/api/v1/searches", {"space": space_text("svc-pg")})
    assert code == 201 and new["state"] == "queued"
