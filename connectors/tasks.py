"""Background ingest: a stored payload (a webhook's body, a big uploaded file)
run through the pipeline by a job; and the replay of many unmatched records
once their identity is mapped.

The request stores the bytes and the job (both committed) and answers; the
task reads them back. Run twice (a worker died before acknowledging), the
task finds the job finished and stops, or runs the payload again: records
already written come back as duplicates (the pipeline is idempotent on
origin and external id), so nothing is written twice and nothing is lost.
"""

from celery import shared_task
from flask import current_app
from sqlalchemy import select

from connectors import registry
from connectors.pipeline import Pipeline
from connectors.readers import UnreadableInput
from crm.extensions import db
from crm.jobs import operations
from crm.jobs.celery import enqueue, enqueue_after_commit
from crm.jobs.models import Job
from crm.jobs.runner import RETRY_OPTIONS, JobFailed, job_task, reporter, running
from crm.models import InboxHint, InboxRecord, IngestRun, RawPayload


def queue_payload(
    payload: RawPayload, kind: str, started_by: str, run_started_by: str, key: str | None = None
) -> Job:
    """A job that ingests `payload`, committed and sent. `started_by` is who
    asked (an account's email, "webhook:<connector>"); `run_started_by` goes
    on the ingest run, as a run made in the request would have it."""
    job = operations.create_job(
        db.session,
        kind,
        started_by,
        title=f"{payload.connector}: {payload.filename or 'body'} ({payload.size} bytes)",
        params={"payload_id": payload.id, "started_by": run_started_by[:120]},
        idempotency_key=key,
    )
    db.session.commit()
    enqueue(ingest_payload, job.id)
    return job


@job_task("connectors.ingest_payload")
def ingest_payload(job: Job) -> None:
    payload = db.session.get(RawPayload, job.params["payload_id"])
    if payload is None:
        raise JobFailed(f"payload {job.params['payload_id']} no longer exists")
    finished = _runs_of(payload, "finished")
    if finished:
        job.result = finished[-1].summary()  # this very job did it before it was lost
        return
    connector = registry.get(payload.connector)
    pipeline = Pipeline(
        db.session, current_app.config["INGEST_BATCH_SIZE"], on_progress=reporter(job)
    )
    try:
        # A run this job left behind (its worker died) is resumed.
        run = pipeline.ingest_payload(connector, payload, job.params["started_by"], job_id=job.id)
    except UnreadableInput as error:
        failed = _runs_of(payload, "failed")
        raise JobFailed(str(error), {"run_id": failed[-1].id} if failed else None) from None
    job.result = run.summary()


def _runs_of(payload: RawPayload, status: str) -> list[IngestRun]:
    return list(
        db.session.scalars(
            select(IngestRun)
            .where(IngestRun.payload_id == payload.id, IngestRun.status == status)
            .order_by(IngestRun.id)
        )
    )


# --- replaying what waited for an identity ---------------------------------------------


def waiting_for(pairs) -> set[int]:
    """Ids of the unmatched records that name any of these identities."""
    found: set[int] = set()
    for system, key in pairs:
        found.update(
            db.session.scalars(
                select(InboxHint.record_id)
                .join(InboxRecord, InboxRecord.id == InboxHint.record_id)
                .where(
                    InboxHint.system == system,
                    InboxHint.key == key,
                    InboxRecord.status == "unmatched",
                )
            )
        )
    return found


def queue_replay(pairs, waiting: int, started_by: str, run_started_by: str) -> Job:
    """A job replaying the records waiting for `pairs`, sent when the caller
    commits the mapping (the worker must see it)."""
    pairs = [list(pair) for pair in pairs]
    named = ", ".join(f"{system} {key}" for system, key in pairs)
    job = operations.create_job(
        db.session,
        "replay",
        started_by,
        title=f"Replay {waiting} records waiting for {named}"[:200],
        total=waiting,
        params={"pairs": pairs, "started_by": run_started_by[:120]},
    )
    enqueue_after_commit(db.session(), replay_waiting, job.id)
    return job


@shared_task(bind=True, name="connectors.replay_waiting", **RETRY_OPTIONS)
def replay_waiting(self, job_id: int) -> None:
    """Replays only records still unmatched: run again, it finds the ones the
    first run did as replayed already and goes on with the rest."""
    with running(self, job_id) as job:
        if job is None:
            return
        pipeline = Pipeline(
            db.session, current_app.config["INGEST_BATCH_SIZE"], on_progress=reporter(job)
        )
        pairs = [tuple(pair) for pair in job.params["pairs"]]
        runs = pipeline.replay_matching(pairs, job.params["started_by"])
        job.result = {
            "run_ids": [run.id for run in runs],
            "replayed": sum(run.accepted + run.duplicate for run in runs),
            "rejected": sum(run.rejected for run in runs),
            "skipped": sum(run.skipped for run in runs),
            "still_waiting": len(waiting_for(pairs)),
        }
