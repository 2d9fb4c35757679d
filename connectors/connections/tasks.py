"""Syncs as background jobs: "sync now" and the schedule queue one, which a
worker runs with progress (records pulled so far), or the request runs at
once without Redis. Celery beat sends `sync_due` every minute; it queues a
job for each connection whose interval has passed.
"""

from celery import shared_task
from sqlalchemy import select

from connectors.connections.models import Connection
from connectors.connections.sync import SyncBusy, due, sync
from crm.extensions import db
from crm.jobs import operations
from crm.jobs.celery import enqueue
from crm.jobs.models import Job
from crm.jobs.runner import JobFailed, job_task, reporter

BEAT_SECONDS = 60.0


def queue_sync(connection: Connection, started_by: str) -> Job:
    """A job syncing the connection, committed and sent. One queued or
    running sync per connection: asking again finds the same job."""
    pending = db.session.scalar(
        select(Job).where(
            Job.kind == "sync",
            Job.status.in_(("queued", "running")),
            Job.params["connection_id"].as_integer() == connection.id,
        )
    )
    if pending is not None:
        return pending
    job = operations.create_job(
        db.session,
        "sync",
        started_by,
        title=f"Sync {connection.name} ({connection.vendor})",
        params={"connection_id": connection.id, "started_by": started_by[:120]},
    )
    db.session.commit()
    enqueue(sync_connection, job.id)
    return job


@job_task("connections.sync")
def sync_connection(job: Job) -> None:
    connection = db.session.get(Connection, job.params["connection_id"])
    if connection is None:
        raise JobFailed("the connection was deleted")
    try:
        run = sync(db.session, connection, job.params["started_by"], reporter(job))
    except SyncBusy as busy:
        raise JobFailed(str(busy)) from None
    if run.status == "failed":
        raise JobFailed(run.error or "the sync failed", run.summary())
    job.result = run.summary()


@shared_task(name="connections.sync_due")
def sync_due() -> int:
    """Queue a sync of every connection that is due; how many."""
    connections = due(db.session)
    for connection in connections:
        queue_sync(connection, "schedule")
    return len(connections)
