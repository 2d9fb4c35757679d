"""Meetings: planned on the client page and the API, shown as the client's next
meeting on the card and in the directory, then logged onto the timeline with
their action items as commitments; the next briefing starts at the meeting."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm.accounts.models import AuditEntry
from crm.extensions import db
from crm.formatting import day
from crm.meetings.models import Meeting
from crm.meetings.operations import MeetingError, create_meeting, log_meeting, next_meetings
from crm.models import Entity, Event
from crm.models.types import utcnow
from reports.briefing.build import meeting_period
from tests.accounts import make_user
from tests.factories import make_client


def _plan(client, starts_at, **fields):
    meeting = create_meeting(
        db.session, client, {"starts_at": starts_at} | fields, actor="am@touchline.test"
    )
    db.session.commit()
    return meeting


def test_a_meeting_planned_by_the_api_is_in_the_clients_time_zone(client):
    acme = make_client("acme", timezone="Europe/Lisbon")
    make_user("manager", email="rita@touchline.test", name="Rita")
    answer = client.post(
        "/api/v1/clients/acme/meetings",
        json={
            "kind": "qbr",
            "starts_at": "2030-07-01T10:00",
            "attendees": ["Rita <rita@touchline.test>", "Ana Lima <ANA@acme.pt>"],
            "agenda": "Backups; renewal",
        },
    )
    assert answer.status_code == 201, answer.json
    body = answer.json
    # Lisbon is UTC+1 in July.
    assert body["starts_at"] == "2030-07-01T09:00:00+00:00"
    assert body["title"] == "Quarterly business review"
    assert body["attendees"] == [
        {"email": "rita@touchline.test", "name": "Rita", "ours": True},
        {"email": "ana@acme.pt", "name": "Ana Lima", "ours": False},
    ]
    assert body["status"] == "planned"
    listed = client.get("/api/v1/clients/acme/meetings").json["items"]
    assert [m["id"] for m in listed] == [body["id"]]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "meeting.create"))
    assert (entry.target, entry.detail["meeting"]) == ("acme", body["id"])
    assert acme.id == db.session.get(Meeting, body["id"]).client_id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "lunch", "starts_at": "2030-07-01T10:00"}, "kind"),
        ({}, "starts_at"),
        ({"starts_at": "2030-07-01T10:00", "ends_at": "2030-07-01T09:00"}, "ends_at"),
        ({"starts_at": "2030-07-01T10:00", "attendees": ["not an address"]}, "attendees.0"),
    ],
)
def test_a_meeting_that_cannot_be_planned_names_its_field(client, fields, field):
    make_client("acme")
    answer = client.post("/api/v1/clients/acme/meetings", json=fields)
    assert answer.status_code == 422
    assert answer.json["field"] == field
    assert db.session.scalar(select(Meeting)) is None


def test_the_next_meeting_is_on_the_card_and_in_the_directory(client):
    now = utcnow()
    acme = make_client("acme", timezone="UTC")
    other = make_client("other")
    _plan(acme, now - timedelta(days=3), kind="roadmap", title="Past roadmap")
    _plan(acme, now + timedelta(days=20), kind="other", title="Later one")
    soon = _plan(acme, now + timedelta(days=6), kind="qbr", title="Soon")
    assert next_meetings(db.session, [acme.id, other.id], now) == {acme.id: soon}

    page = client.get("/clients/acme").get_data(as_text=True)
    card = page.split('id="card-title"')[1].split("Right now")[0]
    assert "Next meeting" in card
    assert f"/clients/acme/meetings/{soon.id}" in card
    assert "Quarterly business review" in card
    assert "to log" in page  # the past roadmap meeting waits to be written up

    directory = client.get("/clients").get_data(as_text=True)
    assert f'href="/clients/acme/meetings/{soon.id}"' in directory
    assert day(soon.starts_at) in directory


def test_planning_on_the_page_and_a_form_error_keeps_what_was_typed(client):
    make_client("acme", timezone="America/New_York")
    bad = client.post(
        "/clients/acme/meetings/new",
        data={"kind": "roadmap", "title": "Roadmap 2031", "starts_at": ""},
    )
    assert bad.status_code == 422
    assert "Roadmap 2031" in bad.get_data(as_text=True)
    good = client.post(
        "/clients/acme/meetings/new",
        data={"kind": "roadmap", "title": "Roadmap 2031", "starts_at": "2030-01-15T09:30"},
    )
    assert good.status_code == 302
    meeting = db.session.scalar(select(Meeting))
    assert meeting.starts_at == datetime(2030, 1, 15, 14, 30, tzinfo=UTC)
    page = client.get(good.headers["Location"]).get_data(as_text=True)
    assert "Roadmap 2031" in page and "15 Jan 2030 09:30" in page


def test_logging_a_meeting_writes_the_timeline_commitments_and_the_next_briefing(client):
    acme = make_client("acme", timezone="Europe/Lisbon")
    held = utcnow() - timedelta(days=2)
    meeting = _plan(acme, held, kind="roadmap", title="Roadmap Q4")
    due = (utcnow() + timedelta(days=10)).replace(microsecond=0)
    answer = client.post(
        f"/api/v1/clients/acme/meetings/{meeting.id}/log",
        json={
            "notes": "Talked about the backups.",
            "outcome": "Move to the new NAS in January.",
            "actor": "Rita",
            "action_items": [
                {"title": "Quote the NAS", "owner": "Bruno", "due_at": due.isoformat()},
                {"title": "Send the report", "owner": "Rita", "due_at": due.isoformat()},
            ],
        },
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["status"] == "logged"
    assert [(i["title"], i["owner"]) for i in body["action_items"]] == [
        ("Quote the NAS", "Bruno"),
        ("Send the report", "Rita"),
    ]

    event = db.session.get(Event, body["event_id"])
    assert (event.kind, event.occurred_at) == ("meeting", meeting.starts_at)
    assert event.title == "Roadmap meeting: Roadmap Q4"
    assert "Talked about the backups." in event.detail
    assert "Outcome: Move to the new NAS in January." in event.detail

    commitments = db.session.scalars(
        select(Entity).where(Entity.type == "commitment").order_by(Entity.title)
    ).all()
    assert [(c.title, c.assignee, c.due_at, c.is_open) for c in commitments] == [
        ("Quote the NAS", "Bruno", due, True),
        ("Send the report", "Rita", due, True),
    ]
    assert {c.key for c in commitments} == {i["key"] for i in body["action_items"]}

    period = meeting_period(db.session, acme, None, utcnow())
    assert (period.start, period.last_meeting_event_id) == (meeting.starts_at, event.id)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "meeting.log"))

    again = client.post(
        f"/api/v1/clients/acme/meetings/{meeting.id}/log", json={"notes": "x", "actor": "Rita"}
    )
    assert again.status_code == 409


def test_a_meeting_is_logged_from_its_page_with_action_items(client):
    acme = make_client("acme", timezone="UTC")
    meeting = _plan(acme, utcnow() - timedelta(hours=2))
    due = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    answer = client.post(
        f"/clients/acme/meetings/{meeting.id}/log",
        data={
            "notes": "All good",
            "actor": "Rita",
            "item_title": ["Fix the printer", ""],
            "item_owner": ["Bruno", ""],
            "item_due": [due, ""],
        },
    )
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Fix the printer" in page and "Bruno" in page
    assert db.session.scalar(select(Entity).where(Entity.type == "commitment")).assignee == "Bruno"


def test_an_action_item_without_a_due_time_is_refused_on_the_page(client):
    acme = make_client("acme")
    meeting = _plan(acme, utcnow() - timedelta(hours=2))
    answer = client.post(
        f"/clients/acme/meetings/{meeting.id}/log",
        data={"notes": "n", "actor": "Rita", "item_title": ["Fix it"], "item_owner": ["Bo"]},
    )
    assert answer.status_code == 422
    assert "action_items.0.due_at" in answer.get_data(as_text=True)
    assert db.session.scalar(select(Event)) is None


@pytest.mark.parametrize(
    ("ahead", "fields", "field"),
    [
        (timedelta(days=1), {"notes": "n"}, "starts_at"),
        (timedelta(hours=-1), {}, "notes"),
        (
            timedelta(hours=-1),
            {"notes": "n", "action_items": [{"title": "t", "owner": "o", "due_at": None}]},
            "action_items.0",
        ),
        (
            timedelta(hours=-1),
            {
                "notes": "n",
                "action_items": [
                    {"title": "t", "owner": "o", "due_at": datetime(2001, 1, 1, tzinfo=UTC)}
                ],
            },
            "action_items.0.due_at",
        ),
    ],
)
def test_a_meeting_that_cannot_be_logged_writes_nothing(session, ahead, fields, field):
    acme = make_client("acme")
    meeting = _plan(acme, utcnow() + ahead)
    with pytest.raises(MeetingError) as raised:
        log_meeting(session, meeting, {"actor": "R"} | fields)
    session.rollback()
    assert raised.value.field == field
    assert session.scalar(select(Event)) is None
    assert session.get(Meeting, meeting.id).status == "planned"
