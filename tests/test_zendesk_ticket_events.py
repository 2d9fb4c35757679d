"""Zendesk's ticket events (the incremental ticket event export and the Ticket
Audits API): a ticket solved and reopened between two snapshots shows both,
each change on its ticket's thread, found through the ticket's id."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.connections import sync as sync_module
from crm.models import Entity, Event
from tests import vendor_apis as api
from tests.factories import make_client
from tests.helpers import inbox_by_locator, ingest_file
from tests.test_connections_sync import waits, zendesk  # noqa: F401 (a fixture)

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
TICKETS = VENDORS / "zendesk_ticket_list_api_response.json"
EXPORT = VENDORS / "zendesk_ticket_events_export_DOCUMENTED_SHAPE.json"
AUDITS = VENDORS / "zendesk_ticket_audits_DOCUMENTED_SHAPE.json"

# Ticket 1 of the recorded list: created 2012, pending since 2015; between,
# the events say it was solved in January 2013 and reopened in February.
HISTORY = [
    ("ticket.opened", "2012-09-06T20:15:09+00:00"),
    ("ticket.resolved", "2013-01-10T10:00:00+00:00"),
    ("ticket.updated", "2013-02-01T09:00:00+00:00"),
    ("ticket.updated", "2015-09-03T00:37:57+00:00"),
]


def history(session) -> list[tuple[str, str]]:
    events = session.scalars(
        select(Event)
        .where(Event.origin == "zendesk", Event.thread_key == "1")
        .order_by(Event.occurred_at)
    )
    return [(event.kind, event.occurred_at.isoformat()) for event in events]


def ticket_one(session) -> Entity:
    return session.scalars(select(Entity).where(Entity.key == "1")).one()


def counts(summary: dict) -> tuple:
    return tuple(summary[name] for name in ("accepted", "duplicate", "skipped", "rejected"))


def test_a_solve_and_a_reopening_between_two_snapshots_are_both_on_the_thread(runner, session):
    make_client("acme", identities=[("zendesk", "20012227")])
    ingest_file(runner, "zendesk", TICKETS)
    assert history(session) == [HISTORY[0], HISTORY[-1]]  # the snapshot alone

    summary = ingest_file(runner, "zendesk", EXPORT)
    # The creation and the change to pending are the versions the ticket
    # gave already; the update that only tags and comments is no status change.
    assert counts(summary) == (2, 2, 1, 0)
    skipped = inbox_by_locator(session)["ticket_events[3]"]
    assert "changes no status" in skipped.reason
    assert history(session) == HISTORY
    solved = session.scalars(select(Event).where(Event.kind == "ticket.resolved")).one()
    assert solved.detail == "Status new to solved"
    ticket = ticket_one(session)
    assert (ticket.status, ticket.closed_at) == ("pending", None)  # reopened since
    assert ticket.opened_at.isoformat() == "2012-09-06T20:15:09+00:00"


def test_events_that_come_before_their_ticket_wait_for_it(runner, session):
    make_client("acme", identities=[("zendesk", "20012227")])
    summary = ingest_file(runner, "zendesk", EXPORT)
    assert summary["unmatched"] == 4 and summary["skipped"] == 1
    waiting = inbox_by_locator(session)["ticket_events[1]"]
    assert "zendesk-ticket 1" in waiting.reason

    ingest_file(runner, "zendesk", TICKETS)  # the ticket names its organization
    assert history(session) == HISTORY
    assert ticket_one(session).status == "pending"


def test_the_ticket_audits_api_gives_the_same_history(runner, session):
    make_client("acme", identities=[("zendesk", "20012227")])
    ingest_file(runner, "zendesk", TICKETS)
    assert counts(ingest_file(runner, "zendesk", AUDITS)) == (2, 0, 0, 0)
    assert history(session) == HISTORY
    # The same changes from the export afterwards are the same events.
    assert counts(ingest_file(runner, "zendesk", EXPORT))[:2] == (0, 4)


def test_a_ticket_event_that_cannot_be_read_is_rejected_naming_its_field(runner, session, tmp_path):
    good = json.loads(EXPORT.read_text())["ticket_events"][1]
    no_ticket = {key: value for key, value in good.items() if key != "ticket_id"}
    far = {k: v for k, v in good.items() if k != "created_at"} | {"timestamp": 10**20}
    no_status = good | {"child_events": [{"event_type": "Change", "status": 7}]}
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"ticket_events": [no_ticket, far, no_status, "text"]}))

    summary = ingest_file(runner, "zendesk", path)

    assert summary["rejected"] == 4
    reasons = {locator: row.reason for locator, row in inbox_by_locator(session).items()}
    assert "ticket_event.ticket_id is required" in reasons["ticket_events[0]"]
    assert "ticket_event.timestamp" in reasons["ticket_events[1]"]
    assert "ticket_event.child_events.status" in reasons["ticket_events[2]"]
    assert "is not a JSON object" in reasons["ticket_events[3]"]


@pytest.mark.usefixtures("waits")
def test_a_sync_follows_the_ticket_event_export_from_its_end_time(session):
    make_client("acme", identities=[("zendesk", str(api.ORGANIZATION))])
    connection = zendesk(session)
    export = json.loads(EXPORT.read_text())
    with api.replayed() as mock:
        tickets = api.cursor_pages(api.zendesk_tickets(), "tickets", [100], "t")
        api.add_zendesk(mock, tickets, ticket_events=export)
        run = sync_module.sync(session, connection, "test")
        asked = [c.request.url for c in mock.calls if "ticket_events" in c.request.url]
    assert run.status == "finished"
    assert "start_time=0" in asked[0]
    assert connection.cursors()["ticket_events"] == {"start_time": export["end_time"]}
    assert history(session) == HISTORY
