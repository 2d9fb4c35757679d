"""Running a job's task: status, commits, and which errors are worth a retry.

A task body runs inside `running(task, job_id)`; `job_task` makes a function
of the job such a task. The job is claimed (marked
running under this worker's lease, crm.jobs.operations.claim) and committed
first; a job another worker is still on is left to it, and looked at again
once that worker's heartbeat would have stopped. An error of the record's or
the input's own making
fails the job (kept with its message, never retried); a transient database
error (a dropped connection, a lock) is raised again for Celery to retry
with backoff, leaving the job running, until the retries run out.
"""

import contextlib
import logging

import psycopg
from celery import shared_task
from sqlalchemy.exc import DisconnectionError, OperationalError

from crm.extensions import db
from crm.heartbeat import stale_after
from crm.jobs import operations
from crm.jobs.models import Job

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, DisconnectionError, psycopg.OperationalError)
# Keyword arguments of every job task: retries with exponential backoff
# (1, 2, 4 ... seconds, jittered, at most 5 minutes apart).
RETRY_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}


# Retries of a delivery that found the job in another worker's hands: each
# waits out the other's heartbeat, so this bounds nothing in practice.
WHILE_ANOTHER_RUNS = 10**6


class JobFailed(Exception):
    """Raised by a task body to fail its job with this message (and no traceback)."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result


@contextlib.contextmanager
def running(task, job_id: int):
    """Yield the job, running; or None when there is nothing to do (no such
    job, or it already finished: a second delivery of the same message)."""
    session = db.session
    job = session.get(Job, job_id)
    if job is None or job.finished:
        yield None
        return
    if not operations.claim(session, job):
        if job.finished or task.request.is_eager:
            yield None
            return
        # Another worker is on it (a redelivered message): look again once
        # its heartbeat would have stopped, and take over only then.
        # (Celery reads max_retries=None as "the task's own", 5: past those
        # the message was dropped while the other worker still ran the job,
        # and nobody took over if it died after. Looking again is not a
        # failure, so it has no limit of its own.)
        raise task.retry(countdown=stale_after().total_seconds(), max_retries=WHILE_ANOTHER_RUNS)
    try:
        yield job
    except operations.LeaseLost:
        session.rollback()  # the worker that took it over finishes it
    except TRANSIENT_ERRORS as error:
        session.rollback()
        operations.release(session, job)  # the retry of this very delivery claims it again
        if task.request.retries >= task.max_retries:
            _fail(job_id, f"gave up after {task.max_retries} retries: {error}")
        raise
    except JobFailed as failure:
        session.rollback()
        _fail(job_id, str(failure), failure.result)
    except Exception as error:
        logger.exception("job %s (%s) failed", job_id, task.name)
        session.rollback()
        _fail(job_id, f"{type(error).__name__}: {error}")
    else:
        operations.finish(session, job, job.result)
        session.commit()


def job_task(name: str):
    """Make `body(job)` the Celery task `name`, sent a job's id: it runs the
    body inside `running`, and not at all when there is nothing to do."""

    def register(body):
        @shared_task(bind=True, name=name, **RETRY_OPTIONS)
        def task(self, job_id: int) -> None:
            with running(self, job_id) as job:
                if job is not None:
                    body(job)

        task.__doc__ = body.__doc__
        return task

    return register


def _fail(job_id: int, message: str, result: dict | None = None) -> None:
    session = db.session
    job = session.get(Job, job_id)
    operations.fail(session, job, message, result)
    session.commit()


def reporter(job: Job):
    """A callback for work that reports each step: adds `count` to the job's
    progress and commits it, so /jobs shows it while the work goes on."""

    def advance(count: int) -> None:
        operations.progress(db.session, job, job.done + count)
        db.session.commit()

    return advance
