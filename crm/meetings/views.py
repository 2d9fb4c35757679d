"""The meeting pages: plan a meeting with a client, read one, log it once held.

Views parse (schemas.py) and render; operations.py decides. A form with
errors renders its page again with the errors and what was typed (422).
The client page and the directory show each client's next meeting through
the template helpers registered in crm.meetings.init_app.
"""

from itertools import zip_longest

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from marshmallow import ValidationError
from webargs.multidictproxy import MultiDictProxy

from crm.accounts.guard import author_name
from crm.extensions import db
from crm.formatting import zone
from crm.meetings.models import MEETING_KINDS
from crm.meetings.operations import MeetingError, create_meeting, find_meeting, log_meeting
from crm.meetings.schemas import MeetingInSchema, MeetingLogSchema, localised
from crm.models import Client
from crm.models.types import utcnow
from crm.pages import client_or_404, committed, not_found

bp = Blueprint("meetings", __name__)
# Rows of action items the log form offers.
ACTION_ROWS = 3


@bp.route("/clients/<slug>/meetings/new", methods=["GET", "POST"])
def new_meeting(slug: str):
    client = client_or_404(slug)
    values, errors = {"kind": "roadmap"}, {}
    if request.method == "POST":
        values = request.form
        data, errors = _load(MeetingInSchema(), request.form)
        if not errors:
            local = localised(data, zone(client.timezone))
            meeting, errors = committed(
                lambda: create_meeting(db.session, client, local, actor=current_user.email),
                MeetingError,
            )
        if not errors:
            flash(f"Meeting planned: {meeting.title}, {meeting.starts_at:%d %b %Y}")
            return redirect(url_for(".meeting_page", slug=slug, meeting_id=meeting.id))
    return render_template(
        "meetings/new.html", client=client, values=values, errors=errors, kinds=MEETING_KINDS
    ), (422 if errors else 200)


@bp.get("/clients/<slug>/meetings/<int:meeting_id>")
def meeting_page(slug: str, meeting_id: int):
    client = client_or_404(slug)
    return _meeting_page(client, _meeting_or_404(client, meeting_id))


@bp.post("/clients/<slug>/meetings/<int:meeting_id>/log")
def log_form(slug: str, meeting_id: int):
    client = client_or_404(slug)
    meeting = _meeting_or_404(client, meeting_id)
    form = _with_action_items(request.form)
    data, errors = _load(MeetingLogSchema(), form)
    if not errors:
        data = localised(data, zone(client.timezone)) | {"actor": author_name()}
        _, errors = committed(lambda: log_meeting(db.session, meeting, data), MeetingError)
    if not errors:
        flash(f"Meeting logged, with {len(meeting.action_items)} action item(s)")
        return redirect(url_for(".meeting_page", slug=slug, meeting_id=meeting.id))
    return _meeting_page(client, meeting, values=request.form, errors=errors, status=422)


# --- helpers ---------------------------------------------------------------------


def _meeting_page(client, meeting, *, values=None, errors=None, status=200):
    return render_template(
        "meetings/meeting.html",
        client=client,
        meeting=meeting,
        now=utcnow(),
        values=values or {},
        errors=errors or {},
        rows=range(ACTION_ROWS),
    ), status


def _with_action_items(form) -> dict:
    """The log form's rows (item_title, item_owner, item_due, repeated) as the
    schema's list of action items; rows left blank are not items."""
    items = [
        {"title": title, "owner": owner, "due_at": due}
        # zip_longest: a row sent without one of its fields is still an item
        # (and refused as incomplete), never silently dropped.
        for title, owner, due in zip_longest(
            form.getlist("item_title"),
            form.getlist("item_owner"),
            form.getlist("item_due"),
            fillvalue="",
        )
        if any(value.strip() for value in (title, owner, due))
    ]
    plain = {key: form.get(key) for key in form if not key.startswith("item_")}
    return plain | {"action_items": [{k: v for k, v in i.items() if v.strip()} for i in items]}


def _load(schema, values) -> tuple[dict, dict]:
    try:
        source = values if isinstance(values, dict) else MultiDictProxy(values, schema)
        return schema.load(source), {}
    except ValidationError as error:
        return {}, _flatten(error.messages)


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """{"action_items": {0: {"due_at": [...]}}} -> {"action_items.0.due_at": [...]}."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, name + ".")
        else:
            flat[name] = value
    return flat


def _meeting_or_404(client: Client, meeting_id: int):
    meeting = find_meeting(db.session, client, meeting_id)
    if meeting is None:
        abort(make_response(not_found(f"{client.name} has no meeting {meeting_id}.")))
    return meeting
