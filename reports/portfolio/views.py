"""The portfolio report's pages: HTML, PDF and CSV for a period, and the one
action it offers, accepting a suggested tier.

The report modules import pandas, so they are imported when a report is
made, not when the app starts.
"""

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from crm.accounts.operations import audit
from crm.accounts.requester import current_user_or_none
from crm.clients.operations import ClientInputError, update_client
from crm.extensions import db
from crm.models import Client
from crm.models.types import utcnow
from reports.portfolio.period import Period
from reports.portfolio.schemas import PeriodQuerySchema, TierAcceptSchema, period_from

bp = Blueprint("portfolio", __name__)
STARTED_BY = "portfolio report"


@bp.get("/reports/portfolio")
def report():
    from reports.portfolio.render import portfolio_html

    period, errors = _period(request.args)
    built = _build(period)
    page = portfolio_html(
        built,
        "reports/portfolio.html",
        errors=errors,
        form={} if errors else request.args,
        period_args=period_args(period),
    )
    return page, (400 if errors else 200)


@bp.get("/reports/portfolio.pdf")
def report_pdf():
    from reports.portfolio.render import portfolio_pdf

    return _export(portfolio_pdf, "pdf", "application/pdf")


@bp.post("/reports/portfolio/pdf-jobs")
def report_pdf_job():
    """The PDF as a background job: its page shows it going and offers the
    file once it is made (laying out a big portfolio takes seconds)."""
    from reports.portfolio.tasks import queue_report_pdf

    period, errors = _period(request.form)
    if errors:
        abort(400, _describe(errors))
    job = queue_report_pdf(period, current_user_or_none().email)
    _audit_export("pdf", period, job_id=job.id)
    return redirect(url_for("jobs.job", job_id=job.id), 303)


@bp.get("/reports/portfolio.csv")
def report_csv():
    from reports.portfolio.render import portfolio_csv

    return _export(portfolio_csv, "csv", "text/csv; charset=utf-8")


@bp.post("/reports/portfolio/tiers")
def accept_tier():
    """Give one client the tier the report suggests for it."""
    try:
        data = TierAcceptSchema().load(request.form.to_dict())
    except ValidationError as error:
        flash("The tier was not changed: " + _describe(error.messages), "error")
        return _back_to_report(request.form)
    client = db.session.scalar(select(Client).where(Client.slug == data["slug"]))
    if client is None:
        flash(f"The tier was not changed: there is no client “{data['slug']}”.", "error")
        return _back_to_report(request.form)
    before = client.tier
    if before == data["tier"]:
        flash(f"{client.name} is already {before}.", "message")
        return _back_to_report(request.form)
    try:
        update_client(db.session, client, {"tier": data["tier"]}, started_by=STARTED_BY)
    except ClientInputError as error:
        db.session.rollback()
        flash(f"The tier of {client.name} was not changed: {error}", "error")
    else:
        change = {"from": before, "to": data["tier"], "via": "portfolio report"}
        audit(db.session, "client.tier", "client", client.slug, change)
        db.session.commit()
        flash(f"{client.name} is now {data['tier']} (was {before}).", "message")
    return _back_to_report(request.form)


def period_args(period: Period) -> dict[str, str]:
    return {"from": period.start.isoformat(), "to": period.end.isoformat()}


# --- helpers ---------------------------------------------------------------------


def _build(period: Period):
    from reports.portfolio.report import build_portfolio

    return build_portfolio(db.session, period, utcnow())


def _period(values) -> tuple[Period, dict[str, str]]:
    """The period asked for, or the last 12 months and what was wrong."""
    today = utcnow().date()
    try:
        return period_from(PeriodQuerySchema().load(values.to_dict()), today), {}
    except ValidationError as error:
        messages = {field: " ".join(texts) for field, texts in _flat(error.messages).items()}
        return period_from({}, today), messages


def _period_or_400() -> Period:
    period, errors = _period(request.args)
    if errors:
        abort(400, _describe(errors))
    return period


def _back_to_report(form):
    period, _ = _period(form)
    return redirect(url_for("portfolio.report", **period_args(period)) + "#tiers", 303)


def _export(render, file_format: str, mimetype: str) -> Response:
    """The report for the period asked for as a file, its export audited."""
    from reports.portfolio.render import file_stem

    built = _build(_period_or_400())
    body = render(built)
    _audit_export(file_format, built.period)
    return _download(body, mimetype, f"{file_stem(built)}.{file_format}")


def _audit_export(file_format: str, period: Period, **extra) -> None:
    detail = {"format": file_format, **extra} | period_args(period)
    audit(db.session, "portfolio.export", "report", "portfolio", detail)
    db.session.commit()


def _download(body, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _flat(messages) -> dict[str, list[str]]:
    return {
        str(field): texts if isinstance(texts, list) else [str(texts)]
        for field, texts in messages.items()
    }


def _describe(messages: dict) -> str:
    return "; ".join(
        f"{field}: {' '.join(texts) if isinstance(texts, list) else texts}"
        for field, texts in messages.items()
    )
