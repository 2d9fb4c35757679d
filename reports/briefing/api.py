"""/api/v1/clients/<slug>/briefing: the briefing as JSON, with the event ids behind every item."""

from sqlalchemy import select

from crm.accounts.operations import audit
from crm.api import ApiBlueprint, abort
from crm.clients.lifespan import BeforeClient
from crm.extensions import db
from crm.models import Client
from reports.briefing import build_briefing
from reports.briefing.schemas import BriefingQuerySchema, BriefingSchema

blp = ApiBlueprint("briefing_api", __name__, description="Pre-meeting client briefings")


@blp.client_route("/clients/<slug>/briefing")
@blp.arguments(BriefingQuerySchema, location="query")
@blp.response(200, BriefingSchema)
@blp.alt_response(422, description="`date` is before the client existed (or unreadable)")
def client_briefing(query, slug):
    """The briefing for a meeting with the client on `date` (default today).

    Covers the period since the last meeting on the timeline (else 90 days):
    the health score and what moved it, the flags ranked by severity, talking
    points and the period in numbers. Flags, talking points and health
    drivers list the ids of the timeline events they were read from.
    Reading it is recorded in the audit log, as opening the page is.
    """
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        abort(404, f"there is no client {slug!r}", field="slug")
    try:
        briefing = build_briefing(db.session, client, query.get("date"))
    except BeforeClient as refused:
        abort(422, str(refused), field=refused.field)
    # Who read which client's briefing, as the page records it (one entry, committed).
    detail = {"format": "json", "meeting": briefing.period.meeting_date.isoformat()}
    audit(db.session, "briefing.view", "client", client.slug, detail)
    db.session.commit()
    return briefing
