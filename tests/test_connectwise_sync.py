"""Syncing a ConnectWise PSA connection against its REST API replayed with
`responses` (tests/live_psa_apis.py says where each answer comes from):
keyset paging on `_info.lastUpdated`, the tickets' notes, limits, a bad key,
and a sync killed mid-page that resumes with nothing twice and nothing skipped."""

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from sqlalchemy import func, select

from connectors.connections import operations
from connectors.connections.sources import connectwise as cw
from connectors.connections.sync import source_of, sync
from crm.models import Device, Event, Identity, IngestRun
from tests import live_psa_apis as api
from tests.factories import make_client

LISTS = ("/time/entries", "/finance/agreements", "/company/configurations")


@pytest.fixture
def waits(app, monkeypatch):
    return api.keyed(app, monkeypatch)


def tickets_once(session, expected: list[dict]) -> None:
    """Every ticket on the timeline, each opened exactly once."""
    opened = session.scalars(
        select(Event.thread_key).where(Event.origin == "connectwise", Event.kind == "ticket.opened")
    ).all()
    assert sorted(opened) == sorted(str(t["id"]) for t in expected)


def test_every_stream_pages_by_keyset_and_the_pipeline_reads_it(session, waits, monkeypatch):
    monkeypatch.setattr(cw, "PAGE", 2)
    acme = make_client("acme", identities=[("connectwise", "2")])
    connection = api.connect(session, "connectwise")
    tickets = api.tickets(3)
    with responses.RequestsMock() as mock:
        api.cw_list(mock, "/company/companies", [api.companies()[:2], api.companies()[2:]])
        api.cw_list(mock, "/service/tickets", [tickets[:2], tickets[2:]])
        api.cw_notes(mock, 69, api.vendor("connectwise_djconnectwise_ticket_notes.json"))
        api.cw_notes(mock, 70, [])
        api.cw_notes(mock, 71, [])
        entry = api.vendor("connectwise_djconnectwise_time_entry.json")
        api.cw_list(mock, "/time/entries", [[entry]], cw.TICKET_CHARGES)
        agreements = api.in_order(api.vendor("connectwise_agreements_DOCUMENTED_SHAPE.json"))
        api.cw_list(mock, "/finance/agreements", [agreements[:2], agreements[2:]])
        configurations = api.in_order(
            api.vendor("connectwise_configurations_DOCUMENTED_SHAPE.json")
        )
        api.cw_list(mock, "/company/configurations", [configurations[:2], configurations[2:]])
        run = sync(session, connection, "test")
        calls = [c.request for c in mock.calls]
    assert run.status == "finished", connection.last_error
    keys = "acmemsp+pub-never-shown:priv-never-shown"
    assert {c.headers["Authorization"] for c in calls} == {
        "Basic " + base64.b64encode(keys.encode()).decode()
    }
    assert {c.headers["clientId"] for c in calls} == {"0b2c5a6e-client"}
    assert all("version=2025.1" in c.headers["Accept"] for c in calls)
    # The second page of companies: after company 3, the last readable one.
    second = parse_qs(urlparse(calls[1].url).query)
    assert second["conditions"] == [
        "(lastUpdated > [2016-01-04T10:00:00Z] or"
        " (lastUpdated = [2016-01-04T10:00:00Z] and id > 3))"
    ]
    assert second["orderBy"] == ["lastUpdated asc,id asc"]
    assert connection.cursors()["companies"] == {"lastUpdated": "2016-01-05T10:00:00Z", "id": 4}
    assert connection.cursors()["tickets"] == {"lastUpdated": "2016-03-10T21:59:20Z", "id": 71}
    # What the file connector makes of the same objects: identities, the tickets
    # with the note and the time entry in ticket 69's thread, agreements, devices.
    assert ("connectwise-identifier", "YourCompany") in set(
        session.execute(select(Identity.system, Identity.external_key)).tuples()
    )
    tickets_once(session, tickets)
    noted = session.scalars(
        select(Event.external_id).where(Event.kind == "ticket.noted", Event.thread_key == "69")
    ).all()
    assert sorted(noted) == ["note-3", "time-2"]
    assert session.scalar(select(func.count(Event.id)).where(Event.kind == "subscription.created"))
    assert session.scalar(select(func.count(Device.id)).where(Device.client_id == acme.id))
    assert run.rejected == 0, connection.last_error

    # The next sync asks only for what changed after each cursor: nothing.
    with responses.RequestsMock() as mock:
        for stream in source_of(connection).streams():
            state = connection.cursors()[stream.name]
            api.cw_list(mock, stream.path, [[]], stream.condition, state)
        again = sync(session, connection, "test")
    assert again.status == "finished" and again.total == 0


def test_a_sync_killed_mid_page_resumes_with_nothing_twice_and_nothing_skipped(
    session, waits, monkeypatch
):
    monkeypatch.setattr(cw, "PAGE", 2)
    make_client("acme", identities=[("connectwise", "2")])
    connection = api.connect(session, "connectwise")
    tickets = api.tickets(5)
    pages = [tickets[:2], tickets[2:4], tickets[4:]]

    def replay(mock, ticket_pages, state=None):
        api.cw_list(mock, "/service/tickets", ticket_pages, state=state)
        for ticket in tickets:
            api.cw_notes(mock, ticket["id"], [])
        api.cw_empty(mock, *LISTS)

    recover = api.die_on_second_page(monkeypatch, "tickets")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        api.cw_list(mock, "/company/companies", [api.companies()[1:]])
        replay(mock, pages)
        with pytest.raises(api.Killed):
            sync(session, connection, "test")
    first = session.get(IngestRun, connection.last_run_id)
    assert first.status == "failed"
    saved = connection.cursors()
    assert saved["tickets"] == {"lastUpdated": "2016-03-09T21:59:20Z", "id": 70}
    tickets_once(session, tickets[:2])

    recover()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        api.cw_list(mock, "/company/companies", [[]], state=saved["companies"])
        replay(mock, pages[1:], saved["tickets"])
        second = sync(session, connection, "test")
        asked = [c.request.url for c in mock.calls if "/service/tickets?" in c.request.url]
    assert second.status == "finished", connection.last_error
    assert "id+%3E+70" in asked[0]  # from the last ticket stored
    assert (second.total, second.duplicate, second.skipped, second.rejected) == (3, 0, 0, 0)
    tickets_once(session, tickets)
    assert connection.cursors()["tickets"] == {"lastUpdated": "2016-03-12T21:59:20Z", "id": 73}


def test_429_waits_as_retry_after_says_and_a_5xx_backs_off(session, waits):
    connection = api.connect(session, "connectwise")
    url = f"{api.CONNECTWISE}/company/companies"
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers={"Retry-After": "12"})
        mock.get(url, status=503, body="Service Unavailable")
        api.cw_list(mock, "/company/companies", [api.companies()[1:]])
        api.cw_empty(mock, "/service/tickets", *LISTS)
        run = sync(session, connection, "test")
        statuses = [c.response.status_code for c in mock.calls if c.request.url.startswith(url)]
    assert run.status == "finished", connection.last_error
    assert statuses == [429, 503, 200]
    assert waits[0] == 12
    assert 1.0 <= waits[1] <= 2.0  # the second attempt's backoff: half to all of 2 s


ERROR_DOCUMENTED_SHAPE = {"code": "Unauthorized", "message": "Invalid credentials", "errors": None}


def test_the_connection_is_added_from_the_page_and_its_test_names_a_bad_key(waits, client):
    page = client.post(
        "/connections",
        data={"vendor": "connectwise", "name": "psa", "base_url": api.CONNECTWISE}
        | {f"connectwise-{k}": v for k, v in api.CW_KEYS.items()},
    )
    assert page.status_code == 302
    with responses.RequestsMock() as mock:
        mock.get(f"{api.CONNECTWISE}/company/companies", status=401, json=ERROR_DOCUMENTED_SHAPE)
        said = client.post("/api/v1/connections/psa/test").get_json()
    assert (said["ok"], said["problem"]) == (False, "credentials")
    assert said["message"] == (
        "ConnectWise refused the API member's public and private key for company"
        " 'acmemsp', or the client id (401: Invalid credentials)"
    )
    assert "never-shown" not in json.dumps(said) + client.get("/connections").get_data(True)
    missing = client.post(
        "/api/v1/connections",
        json={"vendor": "connectwise", "name": "psa2", "credentials": {"company_id": "x"}},
    ).get_json()
    assert "public_key, private_key, client_id missing" in json.dumps(missing)
    assert "base_url" in json.dumps(missing)  # each site has its own address


def test_a_role_that_may_not_read_a_list_is_named(waits, session):
    connection = api.connect(session, "connectwise")
    forbidden = {"code": "Forbidden", "message": "Insufficient permissions", "errors": None}
    with responses.RequestsMock() as mock:
        mock.get(f"{api.CONNECTWISE}/company/companies", json=[])
        mock.get(f"{api.CONNECTWISE}/service/tickets", status=403, json=forbidden)
        ok, problem, message = operations.check(connection)
    assert (ok, problem) == (False, "permission")
    assert message == (
        "ConnectWise: the API member's security role may not read /service/tickets"
        " (403: Insufficient permissions)"
    )
