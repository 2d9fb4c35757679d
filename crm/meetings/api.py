"""/api/v1/clients/<slug>/meetings: plan meetings, read them, log them once held."""

from crm.accounts.guard import author_name
from crm.api import ApiBlueprint, abort, client_or_404
from crm.extensions import db
from crm.formatting import zone
from crm.meetings.operations import (
    MeetingError,
    client_meetings,
    create_meeting,
    find_meeting,
    log_meeting,
)
from crm.meetings.schemas import (
    MeetingInSchema,
    MeetingListSchema,
    MeetingLogSchema,
    MeetingSchema,
    localised,
)
from crm.models import Client

blp = ApiBlueprint("meetings_api", __name__, description="Meetings with clients")


@blp.client_route("/clients/<slug>/meetings")
@blp.response(200, MeetingListSchema)
def meetings(slug):
    """A client's meetings, the latest first (planned ones ahead on top)."""
    return {"items": client_meetings(db.session, client_or_404(slug).id)}


@blp.client_route("/clients/<slug>/meetings", methods=["POST"])
@blp.arguments(MeetingInSchema())
@blp.response(201, MeetingSchema)
def create(data, slug):
    """Plan a meeting: `starts_at` without an offset is in the client's time zone."""
    client = client_or_404(slug)
    try:
        meeting = create_meeting(
            db.session, client, localised(data, zone(client.timezone)), actor=_actor()
        )
    except MeetingError as error:
        db.session.rollback()
        abort(error.status, error.args[0], field=error.field)
    db.session.commit()
    return meeting


@blp.client_route("/clients/<slug>/meetings/<int:meeting_id>", or_no_such="meeting")
@blp.response(200, MeetingSchema)
def meeting(slug, meeting_id):
    """One meeting, with its notes, outcome and action items once logged."""
    return _meeting(client_or_404(slug), meeting_id)


@blp.client_route(
    "/clients/<slug>/meetings/<int:meeting_id>/log", methods=["POST"], or_no_such="meeting"
)
@blp.arguments(MeetingLogSchema())
@blp.response(200, MeetingSchema)
@blp.alt_response(409, description="The meeting is logged already, or has not been held")
def log(data, slug, meeting_id):
    """Log a held meeting: notes and outcome go on the timeline at its start,
    each action item becomes a commitment of its owner, due at its `due_at`."""
    client = client_or_404(slug)
    found = _meeting(client, meeting_id)
    data = localised(data, zone(client.timezone)) | {"actor": author_name()}
    try:
        log_meeting(db.session, found, data)
    except MeetingError as error:
        db.session.rollback()
        abort(error.status, error.args[0], field=error.field)
    db.session.commit()
    return found


def _actor() -> str:
    return author_name()


def _meeting(client: Client, meeting_id: int):
    found = find_meeting(db.session, client, meeting_id)
    if found is None:
        abort(404, f"{client.slug} has no meeting {meeting_id}", field="meeting_id")
    return found
