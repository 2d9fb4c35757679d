"""A freshdesk (and freshservice) connection against the API replayed with
`responses`: the pages are the documented-shape tickets and companies of
tests/fixtures/vendors, in list answers as developers.freshdesk.com
documents them (a bare array; `Link: <...>; rel="next"` while more follow;
Freshservice's wrapped `{"tickets": [...]}`)."""

import base64
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from responses import matchers
from sqlalchemy import select

from connectors.connections import operations, transport
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sync import sync
from crm.models import Entity
from tests import vendor_apis as api
from tests.factories import make_client

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
BASE = "https://harbor.freshdesk.test"
TICKETS = json.loads((VENDORS / "freshdesk_tickets_page_documented_shape.json").read_text())
COMPANIES = json.loads((VENDORS / "freshdesk_companies_documented_shape.json").read_text())
KEY = "fd-api-key-1"


@pytest.fixture
def waits(app, monkeypatch):
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    asked: list[float] = []
    monkeypatch.setattr(transport, "sleep", asked.append)
    return asked


def connect(session, vendor: str = "freshdesk"):
    data = NewConnectionSchema().load(
        {"vendor": vendor, "name": vendor, "base_url": BASE, "credentials": {"api_key": KEY}}
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


def link(path: str, page: int) -> dict:
    return {"Link": f'<{BASE}{path}?page={page}&per_page=100>; rel="next"'}


def add_lists(mock, ticket_pages: list[list[dict]], since: str = "1970-01-01T00:00:00Z"):
    mock.get(f"{BASE}/api/v2/companies", json=COMPANIES)
    mock.get(f"{BASE}/api/v2/contacts", json=[])
    for number, page in enumerate(ticket_pages, start=1):
        more = number < len(ticket_pages)
        query = {"updated_since": since, "page": str(number), "include": "requester,stats"}
        mock.get(
            f"{BASE}/api/v2/tickets",
            json=page,
            headers=link("/api/v2/tickets", number + 1) if more else {},
            match=[matchers.query_param_matcher(query, strict_match=False)],
        )


def test_freshdesk_pages_through_the_tickets_and_keeps_the_latest_update(session, waits):
    make_client("harbor-dental", identities=[("domain", "harbordental.example")])
    connection = connect(session)
    with api.replayed() as mock:
        add_lists(mock, [TICKETS[:2], TICKETS[2:]])
        run = sync(session, connection, "test")
        calls = [c.request for c in mock.calls if "/tickets" in c.request.url]
    assert run.status == "finished", run.error
    assert len(calls) == 2
    expected = "Basic " + base64.b64encode(f"{KEY}:X".encode()).decode()
    assert calls[0].headers["Authorization"] == expected
    assert "order_by=updated_at" in calls[0].url and "per_page=100" in calls[0].url
    assert connection.cursors()["tickets"] == {"since": "2025-06-03T10:30:00Z"}
    assert len(session.scalars(select(Entity)).all()) == 4
    # The next sync asks only for what changed since.
    with api.replayed() as mock:
        add_lists(mock, [[]], since="2025-06-03T10:30:00Z")
        assert sync(session, connection, "test").status == "finished"


def test_a_429_waits_as_retry_after_says(session, waits):
    connection = connect(session)
    with api.replayed() as mock:
        mock.get(f"{BASE}/api/v2/companies", status=429, headers={"Retry-After": "41"})
        add_lists(mock, [TICKETS])
        assert sync(session, connection, "test").status == "finished"
    assert waits == [41]


def test_a_refused_key_pauses_the_connection(session, waits):
    connection = connect(session)
    with api.replayed() as mock:
        mock.get(f"{BASE}/api/v2/companies", status=401, json={"code": "invalid_credentials"})
        assert sync(session, connection, "test").status == "failed"
    assert connection.status == "paused"
    assert connection.status_reason == "Freshdesk refused the API key (401)"


def test_freshservice_reads_its_wrapped_lists(session, waits):
    make_client("northwind", identities=[("freshservice", "4400")])
    connection = connect(session, "freshservice")
    page = json.loads((VENDORS / "freshservice_tickets_documented_shape.json").read_text())
    with api.replayed() as mock:
        mock.get(f"{BASE}/api/v2/departments", json={"departments": []})
        mock.get(f"{BASE}/api/v2/requesters", json={"requesters": []})
        mock.get(f"{BASE}/api/v2/tickets", json=page)
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.status_reason
    assert {e.key for e in session.scalars(select(Entity))} == {"31", "32"}
    assert connection.cursors()["tickets"] == {"since": "2025-06-05T09:30:00Z"}
