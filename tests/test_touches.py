"""Touches and commitments logged by staff: events like any other, threads
folded exactly as the pipeline folds them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Entity, Event
from crm.timeline.hours import BusinessHours
from crm.timeline.precontact import precontact_card
from crm.timeline.queries import timeline_page
from crm.timeline.touches import (
    TouchError,
    UnknownCommitment,
    complete_commitment,
    log_touch,
    make_commitment,
)
from tests.factories import make_client, ndjson, stored_event
from tests.helpers import ingest_file

NOW = datetime(2026, 11, 3, 13, 0, tzinfo=UTC)
STATE = (
    "type",
    "status",
    "title",
    "opened_at",
    "closed_at",
    "due_at",
    "assignee",
    "last_event_at",
    "event_count",
)


def card_at(client, now):
    hours = BusinessHours.parse("Mon-Fri 09:00-17:30")
    return precontact_card(db.session, client, now, guidance={}, hours=hours)


def test_a_note_goes_on_top_of_the_timeline(session):
    client = make_client()
    stored_event(client, "ticket.opened", NOW - timedelta(hours=1), thread="T-1")

    note = log_touch(
        session, client, kind="note", text="Prefers email.\nCall after 10.", actor="Ana", now=NOW
    )

    top = timeline_page(session, client.id).rows[0]
    assert top.id == note.id
    assert (top.source, top.kind, top.origin, top.actor) == ("manual", "note", "touchline", "Ana")
    assert (top.title, top.detail) == ("Prefers email.", "Prefers email.\nCall after 10.")
    assert top.occurred_at == NOW
    assert top.thread_key is None


def test_each_touch_gets_its_own_external_id(session):
    client = make_client()
    ids = {
        log_touch(session, client, kind=kind, text="x", actor="Ana").external_id
        for kind in ("note", "call", "meeting", "note")
    }
    assert len(ids) == 4


def test_a_touch_may_be_logged_afterwards_with_its_own_title(session):
    client = make_client()
    earlier = NOW - timedelta(days=2)
    call = log_touch(
        session,
        client,
        kind="call",
        title="Call with Luís",
        text="Wants a quote for a second line.",
        actor="Ana",
        occurred_at=earlier,
        now=NOW,
    )
    assert (call.title, call.occurred_at) == ("Call with Luís", earlier)


def test_a_long_first_line_makes_a_short_title(session):
    note = log_touch(session, make_client(), kind="note", text="word " * 100, actor="Ana")
    assert len(note.title) == 120
    assert note.title.endswith("…")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "email"}, "kind"),
        ({"text": "   "}, "text"),
        ({"occurred_at": NOW + timedelta(hours=1)}, "occurred_at"),
    ],
)
def test_bad_touches_are_refused_and_nothing_is_written(session, fields, field):
    client = make_client()
    values = {"kind": "note", "text": "Hello", "actor": "Ana", "now": NOW} | fields
    with pytest.raises(TouchError) as refused:
        log_touch(session, client, **values)
    assert refused.value.field == field
    assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_a_commitment_is_due_then_overdue_then_gone_once_done(session):
    client = make_client(timezone="Europe/Berlin")
    due = NOW + timedelta(hours=2)

    commitment = make_commitment(
        session, client, title="Call back about the printer", due_at=due, actor="Ana", now=NOW
    )

    assert (commitment.status, commitment.due_at, commitment.assignee) == ("open", due, "Ana")
    assert commitment.key.startswith("CMT-")
    (item,) = card_at(client, NOW).commitments
    assert (item.key, item.deadline.state) == (commitment.key, "due")
    (item,) = card_at(client, due + timedelta(minutes=1)).commitments
    assert item.deadline.state == "overdue"
    assert card_at(client, due + timedelta(minutes=1)).flags == ["1 overdue commitment"]

    done = complete_commitment(
        session, client, commitment.key, actor="Bob", now=due + timedelta(hours=1)
    )

    assert (done.status, done.closed_at, done.event_count) == ("done", due + timedelta(hours=1), 2)
    card = card_at(client, due + timedelta(hours=2))
    assert card.commitments == []
    assert [entry.text for entry in card.lately] == [
        "Call back about the printer, done 3 Nov by Bob"
    ]


def test_the_due_time_is_stored_in_utc_as_the_pipeline_stores_it(session):
    client = make_client()
    due_in_berlin = datetime(2026, 11, 3, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    commitment = make_commitment(
        session, client, title="Call", due_at=due_in_berlin, actor="Ana", now=NOW
    )
    made = session.scalar(select(Event).where(Event.thread_key == commitment.key))
    assert made.attributes == {"due_at": "2026-11-03T14:00:00+00:00", "assignee": "Ana"}
    assert (made.thread_type, made.kind, made.origin) == (
        "commitment",
        "commitment.made",
        "touchline",
    )
    assert commitment.due_at == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def test_done_is_never_stamped_before_the_promise(session):
    client = make_client()
    made = NOW + timedelta(hours=1)
    commitment = make_commitment(
        session, client, title="Call", due_at=NOW + timedelta(hours=2), actor="Ana", now=made
    )
    done = complete_commitment(session, client, commitment.key, actor="Ana", now=NOW)
    assert (done.status, done.closed_at) == ("done", NOW + timedelta(hours=1))


def test_completing_twice_or_an_unknown_commitment_is_refused(session):
    client = make_client()
    commitment = make_commitment(
        session, client, title="Call", due_at=NOW, actor="Ana", now=NOW - timedelta(hours=1)
    )
    complete_commitment(session, client, commitment.key, actor="Ana")
    with pytest.raises(TouchError, match="already done"):
        complete_commitment(session, client, commitment.key, actor="Ana")
    with pytest.raises(UnknownCommitment):
        complete_commitment(session, client, "CMT-NOPE", actor="Ana")
    with pytest.raises(UnknownCommitment):  # another client's
        complete_commitment(session, make_client(), commitment.key, actor="Ana")
    count = session.scalar(
        select(func.count()).select_from(Event).where(Event.kind == "commitment.done")
    )
    assert count == 1


def test_a_commitment_needs_a_title_and_an_aware_due_time(session):
    client = make_client()
    with pytest.raises(TouchError) as refused:
        make_commitment(session, client, title=" ", due_at=NOW, actor="Ana")
    assert refused.value.field == "title"
    with pytest.raises(TouchError) as refused:
        make_commitment(session, client, title="Call", due_at=NOW.replace(tzinfo=None), actor="Ana")
    assert refused.value.field == "due_at"


def test_a_promise_cannot_be_due_before_it_is_made(session):
    """A year typed wrong or an AM/PM slip would be overdue the moment it was made."""
    client = make_client()
    with pytest.raises(TouchError, match="before now") as refused:
        make_commitment(
            session, client, title="Call", due_at=NOW, actor="Ana", now=NOW + timedelta(minutes=1)
        )
    assert refused.value.field == "due_at"
    assert session.scalars(select(Event)).all() == []


def test_the_same_events_through_the_pipeline_give_the_same_state(session, runner, tmp_path):
    here, imported = make_client("logged-here"), make_client("imported")
    commitment = make_commitment(
        session, here, title="Send the report", due_at=NOW + timedelta(days=2), actor="Ana", now=NOW
    )
    complete_commitment(session, here, commitment.key, actor="Bob", now=NOW + timedelta(days=1))
    session.commit()
    events = session.scalars(
        select(Event).where(Event.thread_key == commitment.key).order_by(Event.id)
    ).all()
    records = [
        {
            "id": event.external_id,
            "kind": event.kind,
            "occurred_at": event.occurred_at.isoformat(),
            "client": "imported",
            "title": event.title,
            "thread": event.thread_key,
            "actor": event.actor,
            **event.attributes,
        }
        for event in events
    ]

    ingest_file(runner, "manual", ndjson(tmp_path / "manual.ndjson", records))

    def state(client):
        entity = session.scalar(select(Entity).where(Entity.client_id == client.id))
        return {name: getattr(entity, name) for name in STATE}

    assert state(here) == state(imported)
    assert state(here)["status"] == "done"
