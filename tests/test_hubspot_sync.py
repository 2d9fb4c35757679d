"""Syncing a HubSpot connection through HubSpot's SDK against a local server
replaying HubSpot's documented answers (tests/hubspot_replay.py): paging,
the search that follows, 429 and 5xx, a sync killed mid-page, a refused
token and missing scopes."""

import json
import logging
import socket

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from connectors.connections import operations, transport
from connectors.connections.models import Connection, StreamState
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources.hubspot import HubSpotSource
from connectors.connections.sync import sync
from connectors.connections.transport import SourceError
from crm.models import Event, Identity, IngestRun
from tests.factories import make_client
from tests.hubspot_replay import (
    EVENTS,
    TYPES,
    answer,
    asked,
    backfill,
    base,
    listed,
    missing_scopes,
    objects,
)

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


class Killed(Exception):
    """The worker dying between writing a page and committing it."""


@pytest.fixture
def waits(app, monkeypatch):
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    asked: list[float] = []
    monkeypatch.setattr(transport, "sleep", asked.append)
    return asked


def hubspot(session, server) -> Connection:
    data = NewConnectionSchema().load(
        {
            "vendor": "hubspot",
            "name": "hubspot",
            "base_url": base(server),
            "credentials": {"access_token": TOKEN},
        }
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


def stored(session) -> dict[str, dict]:
    return {s.stream: s.state for s in session.scalars(select(StreamState))}


def first_sync(session, server, acme: tuple, globex: tuple):
    """The two clients known by these identities, and a first sync of every list."""
    make_client("acme", identities=[acme])
    make_client("globex", identities=[globex])
    connection = hubspot(session, server)
    backfill(server)
    return connection, sync(session, connection, "test")


def test_the_first_sync_lists_every_object_and_places_it(session, waits, httpserver):
    connection, run = first_sync(
        session, httpserver, ("domain", "acme.example"), ("domain", "globex.example")
    )
    assert run.status == "finished", connection.last_error
    sent = [request for request, _ in httpserver.log]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sent)
    # The SDK's own client made every CRM call; the events went by the transport.
    crm = [r for r in sent if r.path != EVENTS]
    assert all(r.headers["User-Agent"].startswith("hubspot-api-client-python") for r in crm)
    companies = asked(httpserver, "/crm/v3/objects/companies")
    assert [r.args.get("after") for r in companies] == [None, "100"]  # two pages
    assert companies[0].args.getlist("properties") == ["name", "domain", "hs_lastmodifieddate"]
    assert asked(httpserver, "/crm/v3/objects/deals")[0].args["associations"] == "companies"
    keys = set(session.scalars(select(Identity.external_key).where(Identity.system == "hubspot")))
    assert keys == {"5102331001", "5102331002"}
    kinds = sorted(session.scalars(select(Event.kind).where(Event.origin == "hubspot")))
    assert kinds == sorted(
        # each deal's opening at createdate; the open one's state at its last change
        [
            "quote.sent",
            "deal.won",
            "quote.sent",
            "quote.sent",
            "quote.sent",
            "deal.lost",
            "note",
            "call",
            "meeting",
            "note",
            # the marketing email events, by their recipients' domain
            "email.delivered",
            "email.opened",
            "email.clicked",
            "email.bounced",
        ]
    )
    assert stored(session)["companies"] == {"since": "2024-05-03T08:15:00Z"}
    assert stored(session)["deals"] == {"since": "2024-05-02T09:40:00Z"}
    assert stored(session)["email_events"] == {"since": 1714554060000}


def test_the_next_sync_searches_what_changed_since_the_cursor(session, waits, httpserver):
    connection, _ = first_sync(
        session, httpserver, ("hubspot", "5102331001"), ("hubspot", "5102331002")
    )
    httpserver.clear()
    open_deal = objects("deals")[1]
    won = {k: v for k, v in open_deal.items() if k != "associations"}  # search has none
    won["properties"] |= {
        "dealstage": "closedwon",
        "hs_is_closed": "true",
        "hs_is_closed_won": "true",
        "closedate": "2024-05-10T00:00:00Z",
        "hs_lastmodifieddate": "2024-05-10T12:00:00.000Z",
    }
    last_stored = {k: v for k, v in objects("deals")[0].items() if k != "associations"}
    httpserver.expect_request(
        EVENTS, query_string={"limit": "1000", "startTimestamp": "1714554060000"}
    ).respond_with_json({"events": [], "hasMore": False})
    for name in TYPES:
        if name != "deals":
            httpserver.expect_request(
                f"/crm/v3/objects/{name}/search", method="POST"
            ).respond_with_json({"total": 0, "results": []})
    httpserver.expect_request("/crm/v3/objects/deals/search", method="POST").respond_with_json(
        {"total": 2, "results": [last_stored, won]}
    )
    httpserver.expect_request(
        "/crm/v4/associations/deals/companies/batch/read",
        method="POST",
        json={"inputs": [{"id": "9400001"}, {"id": "9400002"}]},
    ).respond_with_json(
        {
            "status": "COMPLETE",
            "results": [
                {"from": {"id": "9400001"}, "to": [{"toObjectId": 5102331001}]},
                {"from": {"id": "9400002"}, "to": [{"toObjectId": 5102331002}]},
            ],
        }
    )
    run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    httpserver.check_assertions()
    (searched,) = asked(httpserver, "/crm/v3/objects/deals/search")
    request = searched.get_json()
    assert request["filterGroups"] == [
        {
            "filters": [
                {
                    "propertyName": "hs_lastmodifieddate",
                    "operator": "GTE",
                    "value": "1714642800000",  # 2024-05-02T09:40:00Z
                }
            ]
        }
    ]
    assert request["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert request["limit"] == 100 and "after" not in request
    assert (run.accepted, run.duplicate) == (1, 1)  # GTE reads the last stored again
    won_event = session.scalar(
        select(Event).where(Event.thread_key == "9400002", Event.kind == "deal.won")
    )
    assert won_event.occurred_at.isoformat() == "2024-05-10T00:00:00+00:00"
    assert stored(session)["deals"] == {"since": "2024-05-10T12:00:00Z"}


def test_a_429_waits_as_retry_after_says_and_a_5xx_backs_off(session, waits, httpserver):
    make_client("acme", identities=[("domain", "acme.example")])
    connection = hubspot(session, httpserver)
    limited = {"status": "error", "message": "You have reached your ten_secondly_rolling limit."}
    companies = "/crm/v3/objects/companies"
    # Answered once each, in order, before the replay's own pages.
    httpserver.expect_oneshot_request(companies).respond_with_response(
        answer(limited | {"errorType": "RATE_LIMIT"}, 429, {"Retry-After": "7"})
    )
    httpserver.expect_oneshot_request(companies).respond_with_data("upstream", status=502)
    backfill(httpserver)
    run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    answered = [response.status_code for request, response in httpserver.log]
    assert answered[:3] == [429, 502, 200]
    assert waits[0] == 7
    # The second attempt failed: half to all of 2 × BASE_DELAY, jittered.
    assert transport.BASE_DELAY <= waits[1] <= 2 * transport.BASE_DELAY
    assert len(waits) == 2


def test_a_sync_killed_mid_page_resumes_with_no_duplicates_and_nothing_skipped(
    session, waits, httpserver, monkeypatch
):
    make_client("acme", identities=[("domain", "acme.example")])
    make_client("globex", identities=[("domain", "globex.example")])
    connection = hubspot(session, httpserver)
    backfill(httpserver)
    from connectors.pipeline import pages as page_module

    real_write, written = page_module.write, []

    def dies_on_the_second_companies_page(batch, writers):
        real_write(batch, writers)  # its rows are in the transaction, not committed
        if any("domain" in (r.data.get("properties") or {}) for r in batch.records):
            written.append(batch)
            if len(written) == 2:
                raise Killed

    monkeypatch.setattr(page_module, "write", dies_on_the_second_companies_page)
    with pytest.raises(Killed):
        sync(session, connection, "test")
    first = session.get(IngestRun, connection.last_run_id)
    assert first.status == "failed"
    assert stored(session)["companies"] == {"after": "100", "high": "2024-05-02T10:00:00Z"}
    hubspot_ids = select(Identity.external_key).where(Identity.system == "hubspot")
    assert set(session.scalars(hubspot_ids)) == {"5102331001"}  # page 2 never committed

    monkeypatch.setattr(page_module, "write", real_write)
    httpserver.clear_log()
    second = sync(session, connection, "test")
    assert second.status == "finished", connection.last_error
    assert [r.args.get("after") for r in asked(httpserver, "/crm/v3/objects/companies")] == ["100"]
    assert second.duplicate == 0  # nothing written twice
    assert sorted(session.scalars(hubspot_ids)) == ["5102331001", "5102331002"]  # none skipped
    assert stored(session)["companies"] == {"since": "2024-05-03T08:15:00Z"}
    assert len(session.scalars(select(Event).where(Event.origin == "hubspot")).all()) == 14


def test_a_bad_token_is_named_pauses_the_connection_and_is_never_logged(
    session, waits, httpserver, caplog
):
    caplog.set_level(logging.DEBUG)
    connection = hubspot(session, httpserver)
    httpserver.expect_request("/crm/v3/objects/companies").respond_with_json(
        {
            "status": "error",
            "message": "Authentication credentials not found.",
            "category": "INVALID_AUTHENTICATION",
        },
        status=401,
    )
    run = sync(session, connection, "test")
    assert run.status == "failed"
    assert connection.status == "paused"
    assert connection.status_reason == "HubSpot refused the access token (401)"
    said = [caplog.text, connection.last_error or "", connection.status_reason]
    assert all(TOKEN not in text and TOKEN[8:] not in text for text in said)


def test_the_connection_test_names_a_refused_key(session, waits, httpserver):
    connection = hubspot(session, httpserver)
    httpserver.expect_request("/crm/v3/objects/companies").respond_with_json(
        {"status": "error", "message": "Authentication credentials not found."}, status=401
    )
    said = operations.check(connection)
    assert said == (False, "credentials", "HubSpot refused the access token (401)")
    assert len(httpserver.log) == 1


def test_check_connection_names_every_missing_scope(waits, httpserver):
    source = HubSpotSource(base(httpserver), {"access_token": "pat-na1-x"})
    forbidden = {"deals": "crm.objects.deals.read", "emails": "sales-email-read"}
    for name in TYPES:
        path = f"/crm/v3/objects/{name}"
        if name in forbidden:
            httpserver.expect_request(path).respond_with_json(
                missing_scopes(forbidden[name]), status=403
            )
        else:
            listed(httpserver, name, [[]])
    httpserver.expect_request(EVENTS).respond_with_json(missing_scopes("content"), status=403)
    with pytest.raises(SourceError) as raised:
        source.check_connection()
    source.close()
    assert raised.value.kind == "permission"
    assert str(raised.value) == (
        "HubSpot: the app is missing scopes: grant crm.objects.deals.read,"
        " sales-email-read, content"
    )
    assert [r.args["limit"] for r, _ in httpserver.log] == ["1"] * (len(TYPES) + 1)


def test_a_403_without_scopes_still_stops_the_check_at_once(waits, httpserver):
    source = HubSpotSource(base(httpserver), {"access_token": "pat-na1-x"})
    httpserver.expect_request("/crm/v3/objects/companies").respond_with_json({}, status=403)
    with pytest.raises(SourceError) as raised:
        source.check_connection()
    source.close()
    assert str(raised.value) == (
        "HubSpot: the access token may not read /crm/v3/objects/companies (403)"
    )
    assert len(httpserver.log) == 1


def test_past_search_s_10000_results_the_search_starts_again_from_the_latest_time(
    waits, httpserver
):
    source = HubSpotSource(base(httpserver), {"access_token": "pat-na1-x"})
    (companies,) = [s for s in source.streams() if s.name == "companies"]
    acme, globex = objects("companies")
    path = "/crm/v3/objects/companies/search"
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(
        {"total": 10_400, "results": [acme], "paging": {"next": {"after": "10000"}}}
    )
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(
        {"total": 1, "results": [globex]}
    )
    pages = list(companies.pages({"since": "2024-01-01T00:00:00Z"}))
    source.close()
    sent = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert [p.state for p in pages] == [
        {"since": "2024-05-02T10:00:00Z"},
        {"since": "2024-05-03T08:15:00Z"},
    ]
    assert [p.filename for p in pages] == ["companies.json", "companies.json"]
    assert "after" not in sent[1]
    assert sent[1]["filterGroups"][0]["filters"][0]["value"] == "1714644000000"


def test_a_hubspot_that_does_not_answer_is_retried_then_named(waits):
    """urllib3's own retries are off: a refused connection is retried by the
    transport's rule (backoff with jitter), then named."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    source = HubSpotSource(f"http://127.0.0.1:{port}", {"access_token": "pat-na1-x"})
    with pytest.raises(SourceError) as raised:
        source.check_connection()
    source.close()
    assert raised.value.kind == "unreachable"
    assert str(raised.value) == f"127.0.0.1:{port} did not answer: connection refused"
    ceilings = [transport.BASE_DELAY * 2**n for n in range(transport.ATTEMPTS - 1)]
    assert all(c / 2 <= wait <= c for wait, c in zip(waits, ceilings, strict=True))
