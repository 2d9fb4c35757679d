"""Creating jobs and moving them along. Each call flushes; the task or view
that ends a unit of work commits.

Every step is safe to repeat: a task delivered twice (a worker died before it
acknowledged the message) finds its job already running or finished and
carries on from there, never counting the same work twice.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.jobs.models import Job
from crm.models.types import utcnow


def create_job(
    session: Session,
    kind: str,
    started_by: str,
    *,
    title: str = "",
    params: dict | None = None,
    total: int | None = None,
    idempotency_key: str | None = None,
) -> Job:
    job = Job(
        kind=kind,
        title=title[:200],
        started_by=started_by[:254],
        params=params or {},
        total=total,
        idempotency_key=idempotency_key,
    )
    session.add(job)
    session.flush()
    return job


def job_for_key(session: Session, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.idempotency_key == key))


def requeue(session: Session, job: Job) -> Job:
    """A failed job asked for again (a sender's retry) starts over."""
    job.status, job.error, job.result, job.done = "queued", None, None, 0
    job.started_at = job.finished_at = None
    session.flush()
    return job


def start(session: Session, job: Job, total: int | None = None) -> None:
    """Running; a job started again after a lost worker keeps its first start time
    and begins counting again (the work it repeats is idempotent)."""
    if job.status == "running":
        job.done = 0
    job.status = "running"
    job.started_at = job.started_at or utcnow()
    if total is not None:
        job.total = total
    session.flush()


def progress(session: Session, job: Job, done: int, total: int | None = None) -> None:
    """`done` units of work so far (absolute, so a repeated report changes nothing)."""
    job.done = done
    if total is not None:
        job.total = total
    session.flush()


def finish(session: Session, job: Job, result: dict | None = None) -> None:
    if job.status == "done":
        return
    job.status, job.result, job.finished_at = "done", result, utcnow()
    if job.total is not None:
        job.done = job.total
    session.flush()


def fail(session: Session, job: Job, error: str, result: dict | None = None) -> None:
    if job.finished:
        return
    job.status, job.error, job.finished_at = "failed", error[:4000], utcnow()
    if result is not None:
        job.result = result
    session.flush()
