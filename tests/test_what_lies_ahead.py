"""What lies ahead is part of the picture: renewals due in the next 90 days and
open quotes show on the card and in the briefing, whatever the briefing's
period and whenever their thread opened.

A sales export without created dates dates a renewal at its renewal day and a
quote at its expected close: the thread's only event lies in the future. Such
records go in through the generic connector, and what a user sees is read
from the pages and the API.
"""

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select

from crm.models import Event
from crm.models.types import utcnow
from tests.factories import make_client, ndjson
from tests.helpers import ingest_file


@pytest.fixture
def ahead(runner, tmp_path, session):
    now = utcnow()
    # A customer for a year: a briefing for a day ten days ago is one they existed on.
    since = (now - timedelta(days=365)).date()
    make_client("acme", name="Acme Dental", tier="key", timezone="UTC", customer_since=since)

    def on(days: float) -> str:
        return (now + timedelta(days=days)).isoformat()

    records = [
        # dated at their own day, ahead
        {"id": "r60", "kind": "renewal.due", "occurred_at": on(60), "due_at": on(60),
         "client": "acme", "thread": "REN-60", "title": "Managed services renewal",
         "amount": "51000.00", "currency": "EUR"},
        {"id": "r85", "kind": "renewal.due", "occurred_at": on(85), "due_at": on(85),
         "client": "acme", "thread": "REN-85", "title": "Backup licence renewal"},
        {"id": "r95", "kind": "renewal.due", "occurred_at": on(95), "due_at": on(95),
         "client": "acme", "thread": "REN-95", "title": "Firewall renewal"},
        {"id": "q7", "kind": "quote.sent", "occurred_at": on(7), "client": "acme",
         "thread": "Q-7", "title": "Quote: Wi-Fi survey", "amount": "900.00", "currency": "EUR"},
        # an invoice due next week: nothing to flag yet
        {"id": "i1", "kind": "invoice.issued", "occurred_at": on(-1), "due_at": on(7),
         "client": "acme", "thread": "INV-1", "amount": "100.00", "currency": "EUR"},
    ]  # fmt: skip
    summary = ingest_file(runner, "sales", ndjson(tmp_path / "sales.ndjson", records[:4]))
    assert summary["accepted"] == 4, summary
    summary = ingest_file(runner, "billing", ndjson(tmp_path / "billing.ndjson", records[4:]))
    assert summary["accepted"] == 1, summary
    return {e.external_id: e for e in session.scalars(select(Event))}


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_card_lists_renewals_due_in_90_days_and_open_quotes_dated_ahead(client, ahead):
    card = client.get("/api/v1/clients/acme/card").get_json()
    assert [item["key"] for item in card["renewals"]] == ["REN-60", "REN-85"]
    assert [item["key"] for item in card["open_quotes"]] == ["Q-7"]
    assert card["flags"] == [] and card["overdue_invoices"] == card["failed_payments"] == []

    html = client.get("/clients/acme").get_data(as_text=True)
    text = _text(html[: html.index('id="timeline"')])  # the card, before the timeline
    assert "Renewals in the next 90 days 2" in text
    assert "Managed services renewal EUR 51,000.00" in text
    assert "Firewall renewal" not in text
    assert "Quote: Wi-Fi survey EUR 900.00 dated in 6 days" in text  # not "opened in ..."


def test_the_briefing_lists_them_whatever_its_period(client, ahead):
    body = client.get("/api/v1/clients/acme/briefing").get_json()
    points = body["talking_points"]
    renewals = {point["thread_key"]: point for point in points["renewals_due"]}
    assert list(renewals) == ["REN-60", "REN-85"]
    # traced to its event, though the event lies ahead of the briefing
    assert renewals["REN-60"]["event_ids"] == [ahead["r60"].id]
    assert "renews on" in renewals["REN-60"]["text"] and "in 59 days" in renewals["REN-60"]["text"]
    [quote] = points["open_quotes"]
    assert quote["thread_key"] == "Q-7" and quote["event_ids"] == [ahead["q7"].id]
    assert "is open, dated" in quote["text"]
    assert body["flags"] == []

    text = _text(client.get("/clients/acme/briefing").get_data(as_text=True))
    assert "“Managed services renewal” (EUR 51,000.00) renews on" in text
    assert "No renewals are due." not in text and "No quotes are open." not in text

    # A briefing for a meeting ten days ago, read as it stood that morning:
    # 90 days from then reach the renewal 60 days from now, not the one 85 days on.
    past = (utcnow() - timedelta(days=10)).date().isoformat()
    before = client.get(f"/api/v1/clients/acme/briefing?date={past}").get_json()
    assert [p["thread_key"] for p in before["talking_points"]["renewals_due"]] == ["REN-60"]
    assert [p["thread_key"] for p in before["talking_points"]["open_quotes"]] == ["Q-7"]


def test_the_directory_shows_the_next_renewal_and_no_touch_from_the_future(client, ahead):
    [row] = client.get("/api/v1/clients?q=acme").get_json()["items"]
    assert row["next_renewal"] == ahead["r60"].occurred_at.isoformat()
    assert row["last_touch"] == ahead["i1"].occurred_at.isoformat()  # not the renewal's day
    assert row["flags"] == []
