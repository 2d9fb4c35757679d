"""/api/v1/clients/<slug>/timeline, threads, the card, devices, touches and commitments.

The timeline endpoint is the hot path: its rows are serialised by hand
(schemas.timeline_item, kept equal to TimelineItemSchema by the tests) and
returned as a ready response, which smorest passes through untouched; the
schema still documents the response. The slug is resolved inside the page's
own statement: one query per page.
"""

import orjson
from flask import current_app

from crm.accounts.guard import author_name
from crm.api import ApiBlueprint, abort, client_or_404, no_client
from crm.devices import client_devices
from crm.extensions import db
from crm.formatting import zone
from crm.models import Client
from crm.models.types import utcnow
from crm.timeline.card_schemas import CardSchema, DeviceListSchema
from crm.timeline.precontact import configured_card
from crm.timeline.queries import commitments, thread, timeline_page, timeline_row
from crm.timeline.schemas import (
    CommitmentCompletionSchema,
    CommitmentInSchema,
    CommitmentListSchema,
    CommitmentQuerySchema,
    ThreadDetailSchema,
    ThreadStateSchema,
    TimelineItemSchema,
    TimelinePageSchema,
    TimelineQuerySchema,
    TouchSchema,
    commitment_arguments,
    timeline_item,
    touch_arguments,
)
from crm.timeline.touches import (
    TouchError,
    UnknownCommitment,
    complete_commitment,
    log_touch,
    make_commitment,
)

blp = ApiBlueprint("timeline_api", __name__, description="Timeline, threads and touches")


@blp.client_route("/clients/<slug>/timeline")
@blp.arguments(TimelineQuerySchema(), location="query")
@blp.response(200, TimelinePageSchema)
def timeline(query, slug):
    """A client's events, newest first, a page at a time.

    Filters combine: `source` and `kind` take several values (repeated or
    comma-separated), `from` and `to` are UTC days (both included), `q` is
    text in the title, detail or actor. Pass `next_cursor` back as `cursor`
    for the next, older page; it is null on the last page.
    """
    page = timeline_page(
        db.session, slug, query["filters"], limit=query["limit"], after=query["after"]
    )
    if page is None:
        no_client(slug)
    body = {"items": [timeline_item(row) for row in page.rows], "next_cursor": page.next_cursor}
    # Only str, int and None values: orjson writes them as the json module
    # would (compact, UTF-8 as it is), at a fifth of the cost.
    return current_app.response_class(orjson.dumps(body), mimetype="application/json")


@blp.client_route("/clients/<slug>/threads/<thread_type>/<path:key>", or_no_such="thread")
@blp.response(200, ThreadDetailSchema)
def thread_detail(slug, thread_type, key):
    """All events of one thread (oldest first) and its current state, if it keeps one."""
    client = client_or_404(slug)
    found = thread(db.session, client.id, thread_type, key)
    if found is None:
        abort(404, f"{slug} has no {thread_type} {key!r}")
    return found


@blp.client_route("/clients/<slug>/card")
@blp.response(200, CardSchema)
def card(slug):
    """The pre-contact card: how to handle them, what is open now, what we did lately."""
    return configured_card(db.session, client_or_404(slug), utcnow(), current_app.config)


@blp.client_route("/clients/<slug>/devices")
@blp.response(200, DeviceListSchema)
def devices(slug):
    """The client's devices as its RMM's inventory lists them (`flask ingest
    devices`), by site and hostname. A device's `host` places its alerts."""
    return {"items": client_devices(db.session, client_or_404(slug).id)}


@blp.client_route("/clients/<slug>/touches", methods=["POST"])
@blp.arguments(TouchSchema())
@blp.response(201, TimelineItemSchema)
def create_touch(data, slug):
    """Log a note, call or meeting; it goes on the timeline at `occurred_at` (default now)."""
    event = _change(client_or_404(slug), data, log_touch, touch_arguments)
    row = timeline_row(db.session, event.id)
    db.session.commit()
    return row


@blp.client_route("/clients/<slug>/commitments", methods=["POST"])
@blp.arguments(CommitmentInSchema())
@blp.response(201, ThreadStateSchema)
def create_commitment(data, slug):
    """Promise the client something by `due_at`; the answer's `key` names it."""
    commitment = _change(client_or_404(slug), data, make_commitment, commitment_arguments)
    db.session.commit()
    return commitment


@blp.client_route(
    "/clients/<slug>/commitments/<key>/complete", methods=["POST"], or_no_such="commitment"
)
@blp.arguments(CommitmentCompletionSchema())
@blp.response(200, ThreadStateSchema)
@blp.alt_response(409, description="The commitment is done already")
def complete(data, slug, key):
    """Mark a commitment done (409 if it is done already)."""
    client = client_or_404(slug)
    try:
        commitment = complete_commitment(db.session, client, key, actor=author_name())
    except UnknownCommitment as error:
        db.session.rollback()
        abort(404, str(error))
    except TouchError as error:
        db.session.rollback()
        abort(409, error.message)
    db.session.commit()
    return commitment


@blp.client_route("/clients/<slug>/commitments")
@blp.arguments(CommitmentQuerySchema(), location="query")
@blp.response(200, CommitmentListSchema)
def list_commitments(query, slug):
    """A client's commitments: `open` (overdue ones too), `overdue` or `done`."""
    client = client_or_404(slug)
    state = query["state"]
    return {"state": state, "items": commitments(db.session, client.id, state, utcnow())}


def _change(client: Client, data: dict, change, arguments):
    """A touch or commitment from its JSON, not yet committed; a refusal answers 422 naming
    the field. `arguments` turns the JSON into what `change` takes (times in the client's
    zone, signed by the token's owner)."""
    try:
        return change(db.session, client, **arguments(data, zone(client.timezone), author_name()))
    except TouchError as error:
        db.session.rollback()
        abort(422, error.args[0], field=error.field)
