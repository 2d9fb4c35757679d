"""Batches of briefing PDFs as background jobs: a ZIP of PDFs or one combined
PDF, written under the instance folder (crm.jobs.files), with progress per
client. The job's page offers the file once it is made.

Without Redis a batch runs in a thread of the web process, never in the
request (`in_thread`). Safe to run twice: the file is written to a temporary name and renamed, so a
second run replaces it whole; a finished job is not run again.
"""

import os
import threading
from datetime import date

from celery.signals import worker_init
from flask import current_app

from crm.extensions import db
from crm.jobs import operations
from crm.jobs.celery import enqueue, run_here
from crm.jobs.files import files_dir
from crm.jobs.models import Job
from crm.jobs.runner import JobFailed, job_task, reporter
from crm.models.types import utcnow
from reports.briefing.batch import (
    BadSelection,
    Batch,
    Selection,
    find_clients,
    make_briefings,
    write_zip,
)
from reports.briefing.combined import write_combined_pdf
from reports.pdf import preload

FORMATS = {"zip": "application/zip", "pdf": "application/pdf"}


@worker_init.connect
def _import_weasyprint_at_start(**kwargs):
    """Workers make PDFs: pay WeasyPrint's ~0.8 s import once at start (before
    the pool forks), not in the first job. Web processes never fire this."""
    preload()


def queue_batch(
    batch: Batch, meeting_date: date | None, file_format: str, started_by: str, link_base: str
) -> Job:
    """A job that makes `batch`'s briefings as one file, committed and sent."""
    selection = batch.selection
    words = "ZIP of PDFs" if file_format == "zip" else "combined PDF"
    job = operations.create_job(
        db.session,
        "briefings",
        started_by,
        title=f"Briefings: {batch.title} ({words})",
        total=len(batch.clients),
        params={
            "tiers": list(selection.tiers),
            "group": selection.group,
            "account_manager": selection.account_manager,
            "date": meeting_date.isoformat() if meeting_date else None,
            "format": file_format,
            "link_base": link_base,
        },
    )
    db.session.commit()
    if current_app.extensions["celery"].conf.task_always_eager:
        in_thread(job.id)
    else:
        enqueue(make_batch, job.id)
    return job


def in_thread(job_id: int) -> threading.Thread:
    """Run the batch job in a thread of this process: without Redis there is no
    worker, and a batch run inside the request (as Celery's eager mode would)
    outlasts the server's timeout (100 briefings took more than 60 s). The
    job's page follows it as it would a worker's; a process that ends first
    leaves it to the heartbeat, which shows it interrupted."""
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            try:
                run_here(make_batch, job_id)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=f"touchline-job-{job_id}", daemon=True)
    thread.start()
    return thread


@job_task("reports.briefing_batch")
def make_batch(job: Job) -> None:
    params = job.params
    try:
        selection = Selection.parse(params["tiers"], params["group"], params["account_manager"])
        batch = find_clients(db.session, selection)
    except BadSelection as error:
        raise JobFailed(f"{error.field}: {error}") from None
    operations.progress(db.session, job, 0, len(batch.clients))
    db.session.commit()
    meeting_date = date.fromisoformat(params["date"]) if params["date"] else None
    now = utcnow()
    briefings = _counted(
        make_briefings(
            db.session,
            batch.clients,
            meeting_date,
            now=now,
            pdf=params["format"] == "zip",
            link_base=params["link_base"],
        ),
        reporter(job),
    )
    day = (meeting_date or now.date()).isoformat()
    download_name = f"briefings-{batch.label}-{day}.{params['format']}"
    stored = f"job-{job.id}-{download_name}"
    path = os.path.join(files_dir(), stored)
    partial = f"{path}.part"
    with open(partial, "wb") as target:
        if params["format"] == "zip":
            outcomes = write_zip(briefings, target)
        else:
            outcomes = write_combined_pdf(
                batch,
                briefings,
                target,
                meeting_date=meeting_date,
                generated_at=now,
                link_base=params["link_base"],
            )
    failed = [f"{outcome.slug}: {outcome.error}" for outcome in outcomes if outcome.error]
    if len(failed) == len(outcomes):
        os.remove(partial)
        raise JobFailed(f"None of the briefings could be made ({'; '.join(failed)}).")
    os.replace(partial, path)
    job.result = {
        "file": stored,
        "download_name": download_name,
        "media_type": FORMATS[params["format"]],
        "made": len(outcomes) - len(failed),
        "failed": failed,
    }
    current_app.logger.info("job %s: %s made", job.id, stored)


def _counted(outcomes, advance):
    for outcome in outcomes:
        yield outcome
        advance(1)
