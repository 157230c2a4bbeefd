"""What runs inside each Ray job: one queued search, through ``run_search`` as ``hpo run``.

``python -m hpo.service._job_main --job ID --attempt N --storage URL`` reads the job
from the queue, runs the search (the same :func:`hpo.execution.run_search` call as
``hpo run``, so both give the same study) and records the outcome in the queue.

A watcher thread reads the job's row twice a second. When the service asks to cancel
(state ``cancelling``) it ends the search the way a first SIGINT does, with the reason
"cancelled": no new trial starts and the running ones are closed PRUNED at the step they
reached. When the row has moved on to a newer attempt (the server restarted and resumed
the job elsewhere), or back to the queue (the server is stopping), this driver stops
the same way, so two drivers never share a job and no trial is left RUNNING.
"""

from __future__ import annotations

import argparse
import sys
import threading
import traceback
from collections.abc import Sequence

from hpo.service._queue import (
    CANCELLED,
    CANCELLING,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobQueue,
)

#: What the trials' stop reason names: "the search was interrupted by <this>".
CANCEL_REASON = "a cancel request (cancelled through the service)"
POLL_S = 0.5


class _Watcher(threading.Thread):
    def __init__(self, queue: JobQueue, job_id: str, attempt: int) -> None:
        super().__init__(name="hpo-job-watcher", daemon=True)
        self.queue, self.job_id, self.attempt = queue, job_id, attempt
        self.cancelled = False
        self.superseded = False
        self.done = threading.Event()

    def run(self) -> None:
        from hpo.execution._stop_signals import request_stop

        asked = False
        while not self.done.wait(POLL_S):
            try:
                job = self.queue.get(self.job_id)
            except Exception:  # noqa: BLE001 - a database hiccup: look again next time
                continue
            if job is None:
                continue
            if job.attempt == self.attempt and job.state == QUEUED:
                self.superseded = True  # handed back by a server that is stopping
                reason = "the server stopping (the search resumes when it starts again)"
            elif job.attempt != self.attempt or job.state not in (RUNNING, CANCELLING):
                self.superseded = True
                reason = f"a newer attempt of job {self.job_id} (this one is superseded)"
            elif job.state == CANCELLING:
                self.cancelled = True
                reason = CANCEL_REASON
            else:
                continue
            # Before the search's ledger exists there is nothing to stop yet: ask again.
            if not asked:
                asked = request_stop(reason)


def run_job(job_id: str, attempt: int, storage: str) -> int:
    """Run attempt ``attempt`` of queued job ``job_id``; returns the exit code."""
    queue = JobQueue(storage)
    job = queue.get(job_id)
    if job is None or job.attempt != attempt:
        print(f"hpo job: job {job_id} attempt {attempt} is not the current one "
              f"({'missing' if job is None else f'attempt {job.attempt}'}); nothing to do",
              file=sys.stderr)
        return 2
    from hpo.execution import SearchInterrupted, run_search
    from hpo.spaces import parse_space

    req = job.request
    watcher = _Watcher(queue, job_id, attempt)
    watcher.start()
    state, reason, code = FAILED, "", 1
    try:
        spec = parse_space(req["space_text"], req.get("source", "<submitted space>"))
        result = run_search(
            spec, study_name=job.study, storage=storage, trials=req.get("trials"),
            concurrency=req.get("concurrency"), time_budget=req.get("time_budget"),
            seed=req.get("seed"), progress=False, score_test=req.get("test_score", True),
            **({"stale_after": req["stale_after"]} if req.get("stale_after") else {}),
        )
        best = "-" if result.best_value is None else f"{result.best_value:.6g}"
        summary = (f"{result.started} trials run: {result.complete} complete, {result.pruned} "
                   f"pruned, {result.failed} failed; best {best}")
        print(f"study {job.study}: {summary}", flush=True)
        state, code = SUCCEEDED, 0
        reason = summary
    except SearchInterrupted as exc:
        reason, code = f"{exc}; every trial it started is closed in the store", exc.exit_code
    except Exception as exc:  # noqa: BLE001 - recorded in the queue, then the job fails
        traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}"
    finally:
        watcher.done.set()
        watcher.join()
    if watcher.cancelled or queue_state(queue, job_id) == CANCELLING:
        state, reason, code = CANCELLED, f"cancelled; {reason}" if reason else "cancelled", 0
    if watcher.superseded:
        print(f"hpo job: attempt {attempt} of job {job_id} was superseded", file=sys.stderr)
    else:
        queue.finish(job_id, state, reason, attempt=attempt)
    queue.close()
    return code


def queue_state(queue: JobQueue, job_id: str) -> str | None:
    job = queue.get(job_id)
    return None if job is None else job.state


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hpo.service._job_main")
    ap.add_argument("--job", required=True)
    ap.add_argument("--attempt", type=int, required=True)
    ap.add_argument("--storage", required=True)
    args = ap.parse_args(argv)
    return run_job(args.job, args.attempt, args.storage)


if __name__ == "__main__":
    sys.exit(main())
