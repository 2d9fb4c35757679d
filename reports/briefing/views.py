"""The briefing page (`/clients/<slug>/briefing`) and its PDF (`/clients/<slug>/briefing.pdf`).

Both take `?date=YYYY-MM-DD`, the meeting day (default today). A date that
cannot be read is a 400 naming the field; an unknown client a 404.
"""

from flask import Blueprint, Response, render_template, request
from marshmallow import ValidationError
from sqlalchemy import select

from crm.extensions import db
from crm.models import Client
from reports.briefing import build_briefing
from reports.briefing.render import briefing_page as render_page
from reports.briefing.render import briefing_pdf, page_size, pdf_filename
from reports.briefing.schemas import BriefingQuerySchema

bp = Blueprint("briefing", __name__)


@bp.record_once
def _check_settings(state) -> None:
    """A page size that is neither A4 nor Letter stops the app at start, not the first PDF."""
    page_size(state.app.config.get("PDF_PAGE_SIZE"))


@bp.get("/clients/<slug>/briefing")
def briefing_page(slug: str):
    client, meeting_date, problem = _read(slug)
    if problem:
        return problem
    return render_page(build_briefing(db.session, client, meeting_date))


@bp.get("/clients/<slug>/briefing.pdf")
def briefing_pdf_download(slug: str):
    client, meeting_date, problem = _read(slug)
    if problem:
        return problem
    briefing = build_briefing(db.session, client, meeting_date)
    # Links in the PDF lead back to this app wherever the file travels.
    pdf = briefing_pdf(briefing, link_base=request.host_url)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{pdf_filename(briefing)}"'},
    )


def _read(slug: str):
    """(client, meeting date, None), or (None, None, an error response)."""
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        return None, None, _error(404, f"There is no client “{slug}”.")
    try:
        query = BriefingQuerySchema().load(request.args)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        text = " ".join(messages) if isinstance(messages, list) else str(messages)
        return None, None, _error(400, f"{field}: {text} Give the meeting day as YYYY-MM-DD.")
    return client, query.get("date"), None


def _error(status: int, message: str):
    return render_template("reports/briefing_error.html", message=message), status
