"""The client page (card, timeline, log a touch) and the thread page.

Views parse (schemas.py) and render; the queries and operations decide. A
form with errors renders the page again with the errors next to the fields
and what was typed still in them (422); a filter the page cannot apply shows
its error instead of a timeline (400).
"""

import functools
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import ValidationError
from webargs.multidictproxy import MultiDictProxy

from crm.accounts.guard import author_name
from crm.config import read_at_start
from crm.devices import client_devices
from crm.extensions import db
from crm.formatting import zone
from crm.models import Client
from crm.models.types import utcnow
from crm.pages import client_or_404, committed, not_found
from crm.timeline.display import timeline_days
from crm.timeline.hours import business_hours
from crm.timeline.precontact import SECTION_TYPES, configured_card
from crm.timeline.queries import thread, threads_page, timeline_page
from crm.timeline.schemas import (
    CommitmentInSchema,
    ThreadListQuerySchema,
    TimelineQuerySchema,
    TouchSchema,
    commitment_arguments,
    event_status,
    touch_arguments,
)
from crm.timeline.touches import (
    TOUCH_KINDS,
    TouchError,
    UnknownCommitment,
    complete_commitment,
    log_touch,
    make_commitment,
)
from crm.vocabulary import KINDS, SOURCES

bp = Blueprint("timeline", __name__)
read_at_start(bp, "BUSINESS_HOURS", business_hours)


@bp.context_processor
def _helpers() -> dict:
    return {
        "source_link": source_link,
        "event_status": event_status,
        "kind_label": kind_label,
        "status_tone": status_tone,
        "sources": SOURCES,
        "section_types": SECTION_TYPES,
    }


def source_link(url: str | None) -> str | None:
    """The URL if it may become a link (http or https), else None: a
    `javascript:` or `data:` URL from an import is shown as text."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def kind_label(kind: str) -> str:
    """A kind as people read it: ticket.resolved -> ticket resolved."""
    return kind.replace(".", " ").replace("_", " ")


_GOOD = {"resolved", "paid", "won", "done", "renewed", "closed"}
_BAD = {"failed", "firing", "needs_response", "lost", "cancelled", "refunded", "void", "overdue"}


def status_tone(status: str) -> str:
    """good, bad or neutral: how a status badge is coloured."""
    return "good" if status in _GOOD else "bad" if status in _BAD else "neutral"


# --- pages -----------------------------------------------------------------------


@bp.get("/clients/<slug>")
def client_page(slug: str):
    client = client_or_404(slug)
    query, errors = _load(TimelineQuerySchema(), request.args)
    page = None
    if not errors:
        page = timeline_page(
            db.session, client.id, query["filters"], limit=query["limit"], after=query["after"]
        )
    return _client_page(client, page=page, filter_errors=errors, status=400 if errors else 200)


@bp.post("/clients/<slug>/touches")
def log_touch_form(slug: str):
    client = client_or_404(slug)
    event, errors = _form_change(client, TouchSchema(), log_touch, touch_arguments)
    if event:
        flash(f"{event.kind.capitalize()} logged: {event.title}")
        return redirect(url_for(".client_page", slug=slug, _anchor="timeline"))
    page = timeline_page(db.session, client.id)
    return _client_page(client, page=page, touch=(request.form, errors), status=422)


@bp.post("/clients/<slug>/commitments")
def commitment_form(slug: str):
    client = client_or_404(slug)
    commitment, errors = _form_change(
        client, CommitmentInSchema(), make_commitment, commitment_arguments
    )
    if commitment:
        flash(f"Commitment recorded: {commitment.title}")
        return redirect(url_for(".client_page", slug=slug))
    page = timeline_page(db.session, client.id)
    return _client_page(client, page=page, commitment=(request.form, errors), status=422)


@bp.post("/clients/<slug>/commitments/<key>/done")
def commitment_done_form(slug: str, key: str):
    client = client_or_404(slug)
    back = request.form.get("next") == "thread"
    target = (
        url_for(".thread_page", slug=slug, thread_type="commitment", key=key)
        if back
        else url_for(".client_page", slug=slug)
    )
    try:
        commitment = complete_commitment(db.session, client, key, actor=author_name())
    except UnknownCommitment:
        db.session.rollback()
        return not_found(f"{client.name} has no commitment “{key}”.")
    except TouchError as error:
        db.session.rollback()
        flash(error.message.capitalize(), "error")
        return redirect(target)
    db.session.commit()
    flash(f"Commitment done: {commitment.title}")
    return redirect(target)


@bp.get("/clients/<slug>/threads")
def threads_list(slug: str):
    """The full, paged list behind the card's and the briefing's "and N more"."""
    client = client_or_404(slug)
    query, errors = _load(ThreadListQuerySchema(), request.args)
    if errors:
        abort(400, description=_describe(errors))
    page = threads_page(
        db.session,
        client.id,
        state=query["state"],
        thread_type=query.get("type"),
        category=query.get("category"),
        page=query["page"],
        per_page=query["per_page"],
    )
    return render_template(
        "timeline/threads.html", client=client, page=page, query=query, now=utcnow()
    )


@bp.get("/clients/<slug>/threads/<thread_type>/<path:key>")
def thread_page(slug: str, thread_type: str, key: str):
    client = client_or_404(slug)
    found = thread(db.session, client.id, thread_type, key)
    if found is None:
        return not_found(f"{client.name} has no {thread_type} “{key}”.")
    return render_template(
        "timeline/thread.html",
        client=client,
        thread=found,
        now=utcnow(),
    )


# --- helpers ---------------------------------------------------------------------


def _form_change(client: Client, schema, change, arguments) -> tuple[object | None, dict]:
    """A touch or commitment from the posted form, committed: (what it made, {}), else
    (None, the errors by field) with nothing changed. `arguments` turns the form into
    what `change` takes (times in the client's zone, signed by who is signed in)."""
    data, errors = _load(schema, request.form)
    if errors:
        return None, errors
    made_from = arguments(data, zone(client.timezone), author_name())
    return committed(lambda: change(db.session, client, **made_from), TouchError)


def _load(schema, values) -> tuple[dict, dict]:
    """(data, {}) or ({}, errors by field) from a query string or form."""
    try:
        return schema.load(MultiDictProxy(values, schema)), {}
    except ValidationError as error:
        return {}, _by_field(error.messages, schema)


def _by_field(messages: dict, schema) -> dict[str, list[str]]:
    """marshmallow's errors keyed by the names the form uses ("from", not "since")."""
    names = {name: field.data_key or name for name, field in schema.fields.items()}
    errors = {}
    for field, text in messages.items():
        if isinstance(text, dict):  # a list field: {0: ["..."]}
            text = [line for lines in text.values() for line in lines]
        errors[names.get(field, field)] = text
    return errors


def _describe(errors: dict[str, list[str]]) -> str:
    return "; ".join(
        f"{field}: {' '.join(texts)}" if field != "_schema" else " ".join(texts)
        for field, texts in errors.items()
    )


def _client_page(
    client: Client,
    *,
    page=None,
    filter_errors=None,
    touch=None,
    commitment=None,
    status: int = 200,
):
    now = utcnow()
    card = configured_card(db.session, client, now, current_app.config)
    days = timeline_days(db.session, client, page.rows) if page is not None else []
    args = request.args.to_dict(flat=False)
    older = None
    if page is not None and page.next_cursor:
        older_args = args | {"cursor": page.next_cursor}
        older = url_for(".client_page", slug=client.slug, _anchor="timeline", **older_args)
    return (
        render_template(
            "timeline/client.html",
            client=client,
            card=card,
            devices=client_devices(db.session, client.id),
            now=now,
            page=page,
            days=days,
            older=older,
            filters=request.args,
            selected_sources=_chosen(request.args.getlist("source")),
            selected_kinds=_chosen(request.args.getlist("kind")),
            newest_args={name: values for name, values in args.items() if name != "cursor"},
            filter_errors=filter_errors or {},
            touch_values=touch[0] if touch else {"kind": "note"},
            touch_errors=touch[1] if touch else {},
            commitment_values=commitment[0] if commitment else {},
            commitment_errors=commitment[1] if commitment else {},
            touch_kinds=TOUCH_KINDS,
            kinds_by_source=_kinds_by_source(),
        ),
        status,
    )


def _chosen(values: list[str]) -> set[str]:
    return {part.strip() for value in values for part in value.split(",")}


@functools.cache
def _kinds_by_source() -> dict[str, list[str]]:
    return {source: [n for n, k in KINDS.items() if k.source == source] for source in SOURCES}
