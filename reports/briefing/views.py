"""The briefing page (`/clients/<slug>/briefing`) and its PDF (`/clients/<slug>/briefing.pdf`),
the client-facing QBR summary (`/clients/<slug>/summary.pdf`), and the
executives' batches (`/briefings`, `/briefings.zip`, `/briefings.pdf`).

All take `?date=YYYY-MM-DD`, the meeting day (default today). A date that
cannot be read is a 400 naming the field; an unknown client a 404.
"""

from datetime import date
from tempfile import SpooledTemporaryFile

from flask import Blueprint, Response, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.wsgi import wrap_file

from crm.accounts.operations import audit
from crm.accounts.requester import current_user_or_none
from crm.clients.directory import directory_choices
from crm.clients.lifespan import BeforeClient
from crm.config import read_at_start
from crm.extensions import db
from crm.models import Client
from crm.models.types import utcnow
from crm.vocabulary import TIERS
from reports.briefing import build_briefing
from reports.briefing.batch import (
    BadSelection,
    Batch,
    Outcome,
    Selection,
    batch_max,
    find_clients,
    make_briefings,
    write_zip,
)
from reports.briefing.client_summary import build_qbr_summary, qbr_filename
from reports.briefing.client_summary import qbr_summary_pdf as qbr_summary_pdf_bytes
from reports.briefing.combined import write_combined_pdf
from reports.briefing.render import briefing_page as render_page
from reports.briefing.render import briefing_pdf, page_size, pdf_filename
from reports.briefing.schemas import BatchQuerySchema, BriefingQuerySchema
from reports.briefing.tasks import FORMATS, queue_batch

bp = Blueprint("briefing", __name__)
read_at_start(bp, "PDF_PAGE_SIZE", page_size)  # A4 or Letter


@bp.get("/clients/<slug>/briefing")
def briefing_page(slug: str):
    briefing, problem = _briefing(slug)
    if problem:
        return problem
    _audit("briefing.view", [briefing], {"format": "html"})
    return render_page(briefing)


@bp.get("/clients/<slug>/briefing.pdf")
def briefing_pdf_download(slug: str):
    briefing, problem = _briefing(slug)
    if problem:
        return problem
    # Links in the PDF lead back to this app wherever the file travels.
    pdf = briefing_pdf(briefing, link_base=request.host_url)
    _audit("briefing.download", [briefing], {"format": "pdf"})
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{pdf_filename(briefing)}"'},
    )


@bp.get("/clients/<slug>/summary.pdf")
def qbr_summary_pdf(slug: str):
    """The QBR summary for the client themself (reports.briefing.client_summary):
    work done, service levels, what is planned, renewals; nothing internal."""
    summary, problem = _briefing(slug, build_qbr_summary)
    if problem:
        return problem
    pdf = qbr_summary_pdf_bytes(summary)
    _audit("briefing.client_summary", [summary.briefing], {"format": "pdf"})
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{qbr_filename(summary)}"'},
    )


def _briefing(slug: str, build=build_briefing):
    """(the client's briefing, or what `build` makes, for the meeting day asked,
    None), or (None, an error response)."""
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        return None, _error(404, f"There is no client “{slug}”.")
    try:
        query = BriefingQuerySchema().load(request.args)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        text = " ".join(messages) if isinstance(messages, list) else str(messages)
        return None, _error(400, f"{field}: {text} Give the meeting day as YYYY-MM-DD.")
    try:
        return build(db.session, client, query.get("date")), None
    except BeforeClient as refused:
        return None, _error(400, str(refused))


def _audit(action: str, briefings, detail: dict) -> None:
    """Who saw which client's briefing, one audit entry per client (committed)."""
    for briefing in briefings:
        meeting = briefing.period.meeting_date.isoformat()
        audit(db.session, action, "client", briefing.client.slug, detail | {"meeting": meeting})
    db.session.commit()


def _made(outcomes: list[Outcome]) -> list:
    return [outcome.briefing for outcome in outcomes if outcome.briefing is not None]


def _error(status: int, message: str):
    return render_template("reports/briefing_error.html", message=message), status


# --- batches -------------------------------------------------------------------------
# `/briefings` picks the clients (tier, group, account manager) and a day;
# `/briefings.zip` and `/briefings.pdf` take the same query string. A request
# makes at most BRIEFING_BATCH_MAX briefings: each takes a fraction of a
# second, and a request must end before the server gives up on it.

# A batch's file stays in memory up to this size, then spills to a temporary file.
ZIP_IN_MEMORY = 32 * 1024 * 1024


@bp.get("/briefings")
def batch_page():
    batch, meeting_date, problem = _read_batch()
    status = 400 if problem else 200
    return _batch_page(batch, meeting_date, problem), status


@bp.get("/briefings.zip")
def batch_zip():
    return _batch_download("zip")


@bp.get("/briefings.pdf")
def batch_pdf():
    return _batch_download("pdf")


def _batch_download(file_format: str):
    """The batch as one file, made briefing by briefing into a spooled file
    (memory up to ZIP_IN_MEMORY, then disk) and streamed from it."""
    batch, meeting_date, refusal = _batch_to_make()
    if refusal:
        return refusal
    now = utcnow()
    # Handed to the response, which closes it once sent.
    spool = SpooledTemporaryFile(max_size=ZIP_IN_MEMORY)  # noqa: SIM115
    try:
        briefings = make_briefings(
            db.session,
            batch.clients,
            meeting_date,
            now=now,
            pdf=file_format == "zip",
            link_base=request.host_url,
        )
        if file_format == "zip":
            outcomes = write_zip(briefings, spool)
        else:
            outcomes = write_combined_pdf(
                batch,
                briefings,
                spool,
                meeting_date=meeting_date,
                generated_at=now,
                link_base=request.host_url,
            )
    except BaseException:
        spool.close()
        raise
    if not any(outcome.briefing for outcome in outcomes):
        spool.close()
        return _nothing_made(batch, meeting_date, outcomes)
    _audit("briefing.batch", _made(outcomes), {"format": file_format, "batch": batch.title})
    size = spool.tell()
    spool.seek(0)
    return Response(
        wrap_file(request.environ, spool),  # closes the file when the response ends
        mimetype=FORMATS[file_format],
        direct_passthrough=True,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": _attachment(batch, meeting_date, now, file_format),
        },
    )


@bp.post("/briefings/jobs")
def batch_job():
    """The batch as a background job (any size): its page shows the progress
    and offers the file when it is made."""
    batch, meeting_date, problem = _read_batch(request.form)
    file_format = request.form.get("format", "")
    if not problem and batch is None:
        problem = "Pick a tier, a group or an account manager first."
    if not problem and file_format not in FORMATS:
        problem = f"format: choose {' or '.join(FORMATS)}, not {file_format!r}."
    if not problem and not batch.clients:
        problem = f"No active clients match: {batch.title.lower()}. There is nothing to make."
    if problem:
        return _batch_page(batch, meeting_date, problem, request.form), 400
    user = current_user_or_none()
    job = queue_batch(batch, meeting_date, file_format, user.email, request.host_url)
    detail = {"format": file_format, "batch": batch.title, "job_id": job.id}
    audit(db.session, "briefing.batch_job", None, None, detail)
    db.session.commit()
    return redirect(url_for("jobs.job", job_id=job.id), 303)


def _read_batch(args=None) -> tuple[Batch | None, date | None, str | None]:
    """(the clients picked or None when nothing is picked yet, the meeting day, a problem)."""
    args = request.args if args is None else args
    data = {name: args.get(name, "") for name in ("group", "account_manager", "date")}
    try:
        query = BatchQuerySchema().load({**data, "tier": args.getlist("tier")})
    except ValidationError as error:
        return None, None, _describe(error) + " Give the meeting day as YYYY-MM-DD."
    meeting_date = query.get("date")
    try:
        selection = Selection.parse(
            query.get("tier", ()), query.get("group"), query.get("account_manager")
        )
        if selection.is_empty:
            return None, meeting_date, None
        return find_clients(db.session, selection), meeting_date, None
    except BadSelection as error:
        return None, meeting_date, f"{error.field}: {error}"


def _batch_to_make():
    """(batch, meeting day, None) when this request may make the batch, else a
    third item: the page that says why not."""
    batch, meeting_date, problem = _read_batch()
    if not problem and batch is None:
        problem = "Pick a tier, a group or an account manager first."
    if problem:
        return None, None, (_batch_page(batch, meeting_date, problem), 400)
    if not batch.clients:
        message = f"No active clients match: {batch.title.lower()}. There is nothing to download."
        return None, None, (_batch_page(batch, meeting_date, message), 404)
    limit = batch_max()
    if len(batch.clients) > limit:
        message = (
            f"{len(batch.clients)} clients match, more than the {limit} one download makes "
            "while you wait: make them in the background (the job's page offers the file), "
            "narrow the selection, or use the command line."
        )
        return None, None, (_batch_page(batch, meeting_date, message), 400)
    return batch, meeting_date, None


def _nothing_made(batch: Batch, meeting_date: date | None, outcomes: list[Outcome]):
    failures = "; ".join(f"{outcome.slug}: {outcome.error}" for outcome in outcomes)
    message = f"None of the briefings could be made ({failures})."
    return _batch_page(batch, meeting_date, message), 500


def _batch_page(
    batch: Batch | None, meeting_date: date | None, problem: str | None, args=None
) -> str:
    args = request.args if args is None else args
    selection = batch.selection if batch else None
    query = {
        "tier": list(selection.tiers) if selection else args.getlist("tier"),
        "group": args.get("group", "").strip(),
        "account_manager": args.get("account_manager", "").strip(),
        "date": meeting_date.isoformat() if meeting_date else args.get("date", ""),
    }
    download = {name: value for name, value in query.items() if value}
    command = None
    if selection:
        command = f"flask briefing {selection.cli_options()} --out briefings"
        if meeting_date:
            command += f" --date {meeting_date.isoformat()}"
    return render_template(
        "reports/briefing_batch.html",
        batch=batch,
        problem=problem,
        query=query,
        download=download,
        command=command,
        limit=batch_max(),
        tiers=TIERS,
        choices=directory_choices(db.session),
    )


def _attachment(batch: Batch, meeting_date: date | None, now, extension: str) -> str:
    day = (meeting_date or now.date()).isoformat()
    return f'attachment; filename="briefings-{batch.label}-{day}.{extension}"'


def _describe(error: ValidationError) -> str:
    field, messages = next(iter(error.messages.items()))
    text = " ".join(messages) if isinstance(messages, list) else str(messages)
    return f"{field}: {text}"
