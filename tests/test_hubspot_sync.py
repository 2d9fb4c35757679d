"""Syncing a HubSpot connection against its CRM v3 API, replayed with
`responses`: list pages built to HubSpot's documented shape from the
objects of tests/fixtures/vendors/hubspot_crm_v3_DOCUMENTED_SHAPE.json
(the envelope `{"results", "paging": {"next": {"after"}}}` and the v4
association batch answer, as developers.hubspot.com documents them)."""

import copy
import json
from pathlib import Path

import pytest
import responses
from cryptography.fernet import Fernet
from responses import matchers
from sqlalchemy import select

from connectors.connections import operations, transport
from connectors.connections.models import Connection, StreamState
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources.hubspot import HubSpotSource
from connectors.connections.sync import sync
from connectors.connections.transport import SourceError
from crm.models import Event, Identity
from tests.factories import make_client

HUBSPOT = "https://hubspot.test"
FIXTURE = Path(__file__).parent / "fixtures" / "vendors" / "hubspot_crm_v3_DOCUMENTED_SHAPE.json"
TYPES = ("companies", "deals", "emails", "calls", "meetings", "notes")


def objects(name: str) -> list[dict]:
    return copy.deepcopy(json.loads(FIXTURE.read_text())[name])


@pytest.fixture
def waits(app, monkeypatch):
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    asked: list[float] = []
    monkeypatch.setattr(transport, "sleep", asked.append)
    return asked


def hubspot(session) -> Connection:
    data = NewConnectionSchema().load(
        {
            "vendor": "hubspot",
            "name": "hubspot",
            "base_url": HUBSPOT,
            "credentials": {"access_token": "pat-na1-11111111-2222-3333-4444-555555555555"},
        }
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


def listed(mock, name: str, pages: list[list[dict]]) -> None:
    """`GET /crm/v3/objects/{name}` in these pages, each answered to the
    `after` the page before gave."""
    for number, results in enumerate(pages):
        last = number == len(pages) - 1
        body = {"results": results}
        if not last:
            body["paging"] = {"next": {"after": str(100 * (number + 1))}}
        expected = {"after": str(100 * number)} if number else {}
        mock.get(
            f"{HUBSPOT}/crm/v3/objects/{name}",
            json=body,
            match=[matchers.query_param_matcher(expected, strict_match=False)]
            if number
            else [matchers.query_param_matcher({"limit": "100"}, strict_match=False)],
        )


def backfill(mock) -> None:
    acme, globex = objects("companies")
    listed(mock, "companies", [[acme], [globex]])  # paging across two pages
    for name in TYPES[1:]:
        listed(mock, name, [objects(name)])
    mock.get(f"{HUBSPOT}/email/public/v1/events", json=objects("email_events"))


def stored(session) -> dict[str, dict]:
    return {s.stream: s.state for s in session.scalars(select(StreamState))}


def first_sync(session, acme: tuple, globex: tuple):
    """The two clients known by these identities, and a first sync of every list."""
    make_client("acme", identities=[acme])
    make_client("globex", identities=[globex])
    connection = hubspot(session)
    with responses.RequestsMock() as mock:
        backfill(mock)
        run = sync(session, connection, "test")
        sent = [call.request for call in mock.calls]
    return connection, run, sent


def test_the_first_sync_lists_every_object_and_places_it(session, waits):
    connection, run, sent = first_sync(
        session, ("domain", "acme.example"), ("domain", "globex.example")
    )
    assert run.status == "finished", connection.last_error
    assert all(r.headers["Authorization"].startswith("Bearer pat-na1-") for r in sent)
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


def test_the_next_sync_searches_what_changed_since_the_cursor(session, waits):
    connection, _, _ = first_sync(session, ("hubspot", "5102331001"), ("hubspot", "5102331002"))
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
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            f"{HUBSPOT}/email/public/v1/events",
            json={"events": [], "hasMore": False},
            match=[
                matchers.query_param_matcher(
                    {"startTimestamp": "1714554060000"}, strict_match=False
                )
            ],
        )
        for name in TYPES:
            if name != "deals":
                mock.post(
                    f"{HUBSPOT}/crm/v3/objects/{name}/search", json={"total": 0, "results": []}
                )
        mock.post(
            f"{HUBSPOT}/crm/v3/objects/deals/search",
            json={"total": 2, "results": [last_stored, won]},
            match=[
                matchers.json_params_matcher(
                    {
                        "filterGroups": [
                            {
                                "filters": [
                                    {
                                        "propertyName": "hs_lastmodifieddate",
                                        "operator": "GTE",
                                        "value": "1714642800000",  # 2024-05-02T09:40:00Z
                                    }
                                ]
                            }
                        ],
                        "sorts": [
                            {"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}
                        ],
                    },
                    strict_match=False,
                )
            ],
        )
        mock.post(
            f"{HUBSPOT}/crm/v4/associations/deals/companies/batch/read",
            json={
                "status": "COMPLETE",
                "results": [
                    {"from": {"id": "9400001"}, "to": [{"toObjectId": 5102331001}]},
                    {"from": {"id": "9400002"}, "to": [{"toObjectId": 5102331002}]},
                ],
            },
        )
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    assert (run.accepted, run.duplicate) == (1, 1)  # GTE reads the last stored again
    won_event = session.scalar(
        select(Event).where(Event.thread_key == "9400002", Event.kind == "deal.won")
    )
    assert won_event.occurred_at.isoformat() == "2024-05-10T00:00:00+00:00"
    assert stored(session)["deals"] == {"since": "2024-05-10T12:00:00Z"}


def test_a_bad_token_is_named_and_pauses_the_connection(session, waits):
    connection = hubspot(session)
    with responses.RequestsMock() as mock:
        mock.get(
            f"{HUBSPOT}/crm/v3/objects/companies",
            status=401,
            json={"status": "error", "message": "Authentication credentials not found."},
        )
        run = sync(session, connection, "test")
    assert run.status == "failed"
    assert connection.status == "paused"
    assert connection.status_reason == "HubSpot refused the access token (401)"


def missing(scope: str) -> dict:
    """The fixture's documented-shape 403 MISSING_SCOPES body, for `scope`."""
    body = json.loads(FIXTURE.read_text())["missing_scopes"]
    body["errors"][0]["context"]["requiredGranularScopes"] = [scope]
    return body


def test_check_connection_names_every_missing_scope():
    source = HubSpotSource(HUBSPOT, {"access_token": "pat-na1-x"})
    forbidden = {"deals": "crm.objects.deals.read", "emails": "sales-email-read"}
    with responses.RequestsMock() as mock:
        for name in TYPES:
            url = f"{HUBSPOT}/crm/v3/objects/{name}"
            if name in forbidden:
                mock.get(url, status=403, json=missing(forbidden[name]))
            else:
                mock.get(url, json={"results": []})
        mock.get(f"{HUBSPOT}/email/public/v1/events", status=403, json=missing("content"))
        with pytest.raises(SourceError) as raised:
            source.check_connection()
    assert raised.value.kind == "permission"
    assert str(raised.value) == (
        "HubSpot: the app is missing scopes: grant crm.objects.deals.read,"
        " sales-email-read, content"
    )


def test_a_403_without_scopes_still_stops_the_check_at_once():
    source = HubSpotSource(HUBSPOT, {"access_token": "pat-na1-x"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{HUBSPOT}/crm/v3/objects/companies", status=403, json={})
        with pytest.raises(SourceError) as raised:
            source.check_connection()
    assert str(raised.value) == (
        "HubSpot: the access token may not read /crm/v3/objects/companies (403)"
    )


def test_past_search_s_10000_results_the_search_starts_again_from_the_latest_time():
    source = HubSpotSource(HUBSPOT, {"access_token": "pat-na1-x"})
    (companies,) = [s for s in source.streams() if s.name == "companies"]
    acme, globex = objects("companies")
    url = f"{HUBSPOT}/crm/v3/objects/companies/search"
    with responses.RequestsMock() as mock:
        mock.post(url, json={"results": [acme], "paging": {"next": {"after": "10000"}}})
        mock.post(url, json={"results": [globex]})
        pages = list(companies.pages({"since": "2024-01-01T00:00:00Z"}))
        asked = [json.loads(call.request.body) for call in mock.calls]
    assert [p.state for p in pages] == [
        {"since": "2024-05-02T10:00:00Z"},
        {"since": "2024-05-03T08:15:00Z"},
    ]
    assert "after" not in asked[1]
    assert asked[1]["filterGroups"][0]["filters"][0]["value"] == "1714644000000"
