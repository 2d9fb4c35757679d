"""Creating jobs and moving them along. Each call flushes; the task or view
that ends a unit of work commits.

Every step is safe to repeat: a task delivered twice (a worker died before it
acknowledged the message) finds its job already running or finished and
carries on from there, never counting the same work twice.

One worker runs a job at a time. It `claim`s the job with a lease (a token
of its own) in one conditional UPDATE, which only a queued job, or a running
one whose heartbeat has stopped (crm.heartbeat), grants; its progress is
written under that lease, and a worker that finds its lease taken (it was
thought dead) stops instead of counting the same work a second time.
"""

import uuid

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from crm.heartbeat import stale_after
from crm.jobs.models import Job
from crm.models.types import utcnow


class LeaseLost(Exception):
    """Another worker took the job over: this one must stop."""


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


def claim(session: Session, job: Job) -> bool:
    """Take the job to run it: True when it was queued, or running with a
    heartbeat that stopped (its worker died); False when another worker is
    on it, or it finished. A job taken over keeps its first start time and
    counts its progress again. Commits, so the claim is seen at once."""
    now, lease = utcnow(), uuid.uuid4().hex
    stopped = (Job.status == "running") & (
        Job.heartbeat_at.is_(None) | (Job.heartbeat_at < now - stale_after())
    )
    claimed = session.execute(
        update(Job)
        .where(Job.id == job.id, or_(Job.status == "queued", stopped))
        .values(
            status="running",
            lease=lease,
            heartbeat_at=now,
            done=0,
            started_at=func.coalesce(Job.started_at, now),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    session.refresh(job)
    return bool(claimed) and job.lease == lease


def release(session: Session, job: Job) -> None:
    """Give up the job's lease (and commit), so that the retry of the same
    delivery, after an error worth retrying, may claim it again at once."""
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.lease == job.lease, Job.status == "running")
        .values(lease=None, heartbeat_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def progress(session: Session, job: Job, done: int, total: int | None = None) -> None:
    """`done` units of work so far (absolute, so a repeated report changes
    nothing), and a heartbeat; under the job's lease, if it has one.
    Raises LeaseLost when another worker holds the job now."""
    values = {"done": done, "heartbeat_at": utcnow()}
    if total is not None:
        values["total"] = total
    condition = [Job.id == job.id]
    if job.lease is not None:
        condition.append(Job.lease == job.lease)
    written = session.execute(
        update(Job).where(*condition).values(values).execution_options(synchronize_session=False)
    ).rowcount
    if not written:
        raise LeaseLost(f"job {job.id} was taken over by another worker")
    for name, value in values.items():
        set_committed_value(job, name, value)  # written above; nothing to flush


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
