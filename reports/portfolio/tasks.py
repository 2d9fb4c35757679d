"""The portfolio report's PDF as a background job.

Laying out the report's pages takes WeasyPrint seconds for a big portfolio,
so the page asks for a job, whose page shows it going and offers the file
once it is made. Safe to run twice: the file is replaced whole (see
crm.jobs.files.write_job_file) and a finished job is not run again.
"""

from datetime import date

from flask import current_app

from crm.extensions import db
from crm.jobs import operations
from crm.jobs.celery import start_job
from crm.jobs.files import write_job_file
from crm.jobs.models import Job
from crm.jobs.runner import job_task
from crm.models.types import utcnow
from reports.portfolio.period import Period

# The job's steps: read and analyse the portfolio, then lay out the PDF.
STEPS = 2


def queue_report_pdf(period: Period, started_by: str) -> Job:
    """A job that makes the report's PDF for `period`, committed and sent."""
    return start_job(
        make_report_pdf,
        "portfolio",
        started_by,
        title=f"Portfolio report {period.start:%d %b %Y} – {period.end:%d %b %Y} (PDF)",
        total=STEPS,
        params={"from": period.start.isoformat(), "to": period.end.isoformat()},
    )


@job_task("reports.portfolio_pdf")
def make_report_pdf(job: Job) -> None:
    from reports.portfolio.render import file_stem, portfolio_pdf
    from reports.portfolio.report import build_portfolio

    params = job.params
    period = Period(date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))
    report = build_portfolio(db.session, period, utcnow())
    operations.progress(db.session, job, 1)
    db.session.commit()
    download_name = file_stem(report) + ".pdf"
    stored = write_job_file(job.id, download_name, portfolio_pdf(report))
    job.result = {
        "file": stored,
        "download_name": download_name,
        "media_type": "application/pdf",
    }
    current_app.logger.info("job %s: %s made", job.id, stored)
