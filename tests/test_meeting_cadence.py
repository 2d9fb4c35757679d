"""The roadmap cadence per tier (crm.meetings.cadence): who is overdue for a
meeting, shown and filtered in the directory and its API."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from crm.extensions import db
from crm.meetings.cadence import (
    DEFAULT_CADENCE,
    describe_cadence,
    next_due,
    overdue_ids,
    parse_cadence,
)
from crm.meetings.models import Meeting
from crm.models.types import utcnow
from tests.factories import make_client

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _meeting(client, starts_at, status="logged"):
    db.session.add(
        Meeting(client_id=client.id, title="Roadmap", starts_at=starts_at, status=status)
    )
    db.session.commit()


def test_the_setting_reads_tiers_and_days():
    assert parse_cadence(None) == DEFAULT_CADENCE == {"key": 91, "problem": 30, "standard": 182}
    assert parse_cadence(" Key=60, problem=0 ") == {"key": 60}
    assert parse_cadence("none") == {}
    assert describe_cadence({"standard": 182, "key": 91}) == (
        "key every 91 days, standard every 182 days"
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [("gold=30", "'gold=30'"), ("key=monthly", "'monthly'"), ("key", "'key'"), ("key=-1", "key")],
)
def test_a_wrong_setting_is_refused_naming_it(text, named):
    with pytest.raises(ValueError, match="TOUCHLINE_MEETING_CADENCE") as error:
        parse_cadence(text)
    assert named in str(error.value)


def test_overdue_by_the_tiers_cadence(session):
    met = make_client("met", tier="key")
    lapsed = make_client("lapsed", tier="key")
    booked = make_client("booked", tier="key")
    never = make_client("never", tier="problem")
    monthly = make_client("monthly", tier="problem")
    fresh = make_client("fresh", tier="new")
    cancelled = make_client("cancelled", tier="standard")
    gone = make_client("gone", tier="key", status="churned")
    _meeting(met, NOW - timedelta(days=90))
    _meeting(lapsed, NOW - timedelta(days=92))
    # Lapsed too, but the next one is booked within the cadence.
    _meeting(booked, NOW - timedelta(days=120))
    _meeting(booked, NOW + timedelta(days=20), status="planned")
    _meeting(monthly, NOW - timedelta(days=45))
    _meeting(cancelled, NOW - timedelta(days=3), status="cancelled")

    overdue = overdue_ids(session, None, NOW)
    assert overdue == {lapsed.id, never.id, monthly.id, cancelled.id}
    assert gone.id not in overdue  # only active clients, when not asked for ids
    assert overdue_ids(session, [gone.id, met.id], NOW) == {gone.id}
    # Monthly for key clients too: the one met 90 days ago is now overdue.
    assert met.id in overdue_ids(session, None, NOW, {"key": 30})
    assert fresh.id not in overdue_ids(session, None, NOW)
    assert overdue_ids(session, None, NOW, {}) == set()

    assert next_due(session, met, NOW) == NOW - timedelta(days=90) + timedelta(days=91)
    assert next_due(session, never, NOW) == NOW
    assert next_due(session, fresh, NOW) is None


def test_the_directory_shows_and_filters_who_is_overdue(client):
    now = utcnow()
    due = make_client("due-co", name="Due Co", tier="key")
    seen = make_client("seen-co", name="Seen Co", tier="key")
    make_client("new-co", name="New Co", tier="new")
    _meeting(due, now - timedelta(days=100))
    _meeting(seen, now - timedelta(days=10))

    rows = client.get("/api/v1/clients").json["items"]
    assert {row["slug"]: row["meeting_overdue"] for row in rows} == {
        "due-co": True,
        "seen-co": False,
        "new-co": False,
    }
    overdue = client.get("/api/v1/clients?meeting_overdue=true").json["items"]
    assert [row["slug"] for row in overdue] == ["due-co"]
    others = client.get("/api/v1/clients?meeting_overdue=false").json["items"]
    assert [row["slug"] for row in others] == ["new-co", "seen-co"]

    page = client.get("/clients?meeting_overdue=true")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Due Co" in html and "Seen Co" not in html
    assert "meeting overdue" in html
    assert 'name="meeting_overdue" value="true" checked' in html
    assert "meeting overdue" not in client.get("/clients?meeting_overdue=false").get_data(
        as_text=True
    )


def test_the_cadence_comes_from_the_configuration(app, client):
    seen = make_client("seen-co", tier="key")
    _meeting(seen, utcnow() - timedelta(days=40))
    assert not client.get("/api/v1/clients").json["items"][0]["meeting_overdue"]
    app.config["MEETING_CADENCE"] = {"key": 30}
    try:
        assert client.get("/api/v1/clients").json["items"][0]["meeting_overdue"]
    finally:
        app.config["MEETING_CADENCE"] = dict(DEFAULT_CADENCE)


def test_the_portfolio_report_counts_clients_overdue_for_a_meeting(client):
    period = {"from": "2026-01-01", "to": "2026-06-30"}
    now = utcnow()
    due = make_client("due-co", tier="problem")
    seen = make_client("seen-co", tier="problem")
    make_client("new-co", tier="new")
    make_client("gone-co", tier="key", status="churned")
    _meeting(due, now - timedelta(days=31))
    _meeting(seen, now + timedelta(days=29), status="planned")

    body = client.get("/api/v1/reports/portfolio", query_string=period).get_json()
    assert body["meeting_overdue_clients"] == 1
    assert {row["slug"]: row["meeting_overdue"] for row in body["clients"]} == {
        "due-co": True,
        "new-co": False,
        "seen-co": False,
    }
    table = client.get("/reports/portfolio.csv", query_string=period).get_data(as_text=True)
    rows = {row["slug"]: row["meeting_overdue"] for row in csv.DictReader(io.StringIO(table))}
    assert rows == {"due-co": "True", "new-co": "False", "seen-co": "False"}
    page = client.get("/reports/portfolio", query_string=period).get_data(as_text=True)
    assert re.search(r'pf-value">1</span> clients overdue for a roadmap meeting', page)
