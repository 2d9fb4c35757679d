"""Syncing a NinjaOne connection against its public API v2 replayed with
`responses` (tests/live_psa_apis.py says where each answer comes from): the
client-credentials token, `after` and `newerThan`/`olderThan` paging, limits,
a bad key, and a sync killed mid-page that resumes with nothing twice and
nothing skipped."""

import json

import pytest
import responses
from sqlalchemy import func, select

from connectors.connections import operations
from connectors.connections.sources import ninjaone as ninja
from connectors.connections.sync import sync
from crm.models import Device, Event, Identity, IngestRun
from tests import live_psa_apis as api
from tests.factories import make_client

ORGANIZATIONS = "ninjaone_organizations_DOCUMENTED_SHAPE.json"
DEVICES = "ninjaone_api_devices_RECORDED.json"
ALERTS = "ninjaone_api_alerts_RECORDED.json"


@pytest.fixture
def waits(app, monkeypatch):
    return api.keyed(app, monkeypatch)


def lists(mock) -> None:
    """Organizations (two: with pages of 2, a full page then an empty one), the
    device, the alert."""
    api.ninja_list(mock, "/v2/organizations", [api.vendor(ORGANIZATIONS)])
    api.ninja_list(mock, "/v2/devices-detailed", [api.vendor(DEVICES)])
    mock.get(f"{api.NINJAONE}/v2/alerts", json=api.vendor(ALERTS))


def stored_activities(session) -> list[str]:
    """The activities on a timeline, by the id each step's event keeps."""
    return sorted(
        session.scalars(select(Event.external_id).where(Event.origin == "ninjaone")).all()
    )


def test_a_token_then_every_stream_paged_and_read_by_the_connector(session, waits, monkeypatch):
    monkeypatch.setattr(ninja, "PAGE", 2)
    acme = make_client("country-consulting", identities=[("ninjaone", "2")])
    connection = api.connect(session, "ninjaone")
    found = api.activities()  # newest first, as NinjaOne lists them
    with responses.RequestsMock() as mock:
        api.ninja_token(mock)
        lists(mock)
        # Newer than nothing: a full page, the older ones of the window, then
        # newer than the newest (nothing new).
        pages = [found[i : i + 2] for i in range(0, len(found), 2)]
        api.ninja_activities(mock, pages, 0)
        api.ninja_activities(mock, [[]], found[0]["id"])
        run = sync(session, connection, "test")
        calls = [c.request for c in mock.calls]
    assert run.status == "finished", connection.last_error
    assert [c.url.rsplit("/", 1)[-1] for c in calls[:2]] == ["token", "organizations?pageSize=2"]
    assert {c.headers["Authorization"] for c in calls[1:]} == {"Bearer ninja-token-never-shown"}
    assert "after=5" in calls[2].url  # the page after organization 5
    walked = [c.url.split("?")[1] for c in calls if "/v2/activities" in c.url]
    assert walked[:2] == ["pageSize=2&newerThan=0", "pageSize=2&newerThan=0&olderThan=178950"]
    assert connection.cursors() == {
        "organizations": {},
        "devices": {},
        "activities": {"newer_than": 179020},
        "alerts": {},
    }
    assert ("rmm-client", "Country Consulting") in set(
        session.execute(select(Identity.system, Identity.external_key)).tuples()
    )
    device = session.scalars(select(Device)).one()
    assert (device.client_id, device.hostname) == (acme.id, "ccesxi03.cc.local")
    # Device 7's condition series, patch and backup runs, placed by the device.
    assert session.scalar(
        select(func.count(Event.id)).where(Event.client_id == acme.id, Event.kind == "alert.raised")
    )
    assert run.rejected == 0, connection.last_error


def test_a_sync_killed_mid_page_resumes_with_nothing_twice_and_nothing_skipped(
    session, waits, monkeypatch
):
    monkeypatch.setattr(ninja, "PAGE", 3)
    make_client("country-consulting", identities=[("ninjaone", "2")])
    connection = api.connect(session, "ninjaone")
    found = api.activities()
    pages = [found[:3], found[3:6], found[6:], []]
    recover = api.die_on_second_page(monkeypatch, "activities")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        api.ninja_token(mock)
        lists(mock)
        api.ninja_activities(mock, pages, 0)
        with pytest.raises(api.Killed):
            sync(session, connection, "test")
    first = session.get(IngestRun, connection.last_run_id)
    assert first.status == "failed"
    window = {"newer_than": 0, "older_than": 178870, "high": 179020}
    assert connection.cursors()["activities"] == window
    before = stored_activities(session)

    recover()
    with responses.RequestsMock() as mock:
        api.ninja_token(mock)
        lists(mock)
        api.ninja_activities(mock, pages[1:], 0, older=178870)
        api.ninja_activities(mock, [[]], 179020)
        second = sync(session, connection, "test")
    assert second.status == "finished", connection.last_error
    # The six activities of the pages not stored, each once, accepted; the
    # duplicates are the organizations and the device, which NinjaOne can only
    # list whole; the alert (of device 33, unknown) was never reached before.
    assert second.total == 6 + 2 + 1 + 1
    counts = ("accepted", "duplicate", "unmatched", "skipped", "rejected")
    assert tuple(getattr(second, name) for name in counts) == (6, 3, 1, 0, 0)
    after = stored_activities(session)
    assert len(after) == len(set(after)) and set(before) < set(after)
    # Eight steps on the timeline: the nine activities but the technician's login.
    assert len(after) == len(set(after)) == 8
    assert connection.cursors()["activities"] == {"newer_than": 179020}


def test_429_waits_as_retry_after_says_a_5xx_backs_off_and_a_refused_token_is_renewed(
    session, waits
):
    connection = api.connect(session, "ninjaone")
    url = f"{api.NINJAONE}/v2/organizations"
    with responses.RequestsMock() as mock:
        api.ninja_token(mock, times=2)
        mock.get(url, status=429, headers={"Retry-After": "4"})
        mock.get(url, status=500, json={"error": "internal"})
        mock.get(url, status=401)  # the token revoked: a new one, once
        api.ninja_list(mock, "/v2/organizations", [[]])
        api.ninja_list(mock, "/v2/devices-detailed", [[]])
        api.ninja_activities(mock, [[]], 0)
        mock.get(f"{api.NINJAONE}/v2/alerts", json=[])
        run = sync(session, connection, "test")
        statuses = [c.response.status_code for c in mock.calls if c.request.url.startswith(url)]
        tokens = [c for c in mock.calls if c.request.url.endswith(ninja.TOKEN_PATH)]
    assert run.status == "finished", connection.last_error
    assert statuses == [429, 500, 401, 200]
    assert len(tokens) == 2
    assert waits[0] == 4
    assert 1.0 <= waits[1] <= 2.0  # the second attempt's backoff: half to all of 2 s


def test_the_connection_is_added_from_the_page_and_its_test_names_a_bad_key(waits, client):
    page = client.post(
        "/connections",
        data={"vendor": "ninjaone", "name": "rmm"}
        | {f"ninjaone-{k}": v for k, v in api.NINJA_KEYS.items()},
    )
    assert page.status_code == 302
    added = client.get("/api/v1/connections/rmm").get_json()
    assert added["base_url"] == "https://app.ninjarmm.com"  # the US region by default
    with responses.RequestsMock() as mock:
        mock.post(
            "https://app.ninjarmm.com/ws/oauth/token", status=401, json={"error": "invalid_client"}
        )
        said = client.post("/api/v1/connections/rmm/test").get_json()
    assert (said["ok"], said["problem"]) == (False, "credentials")
    assert said["message"] == (
        "NinjaOne refused the API client id and secret (invalid_client); the client"
        " must allow the client credentials grant and the monitoring scope"
    )
    assert "never-shown" not in json.dumps(said) + client.get("/connections").get_data(True)


def test_a_client_without_the_monitoring_scope_is_named(waits, session):
    connection = api.connect(session, "ninjaone")
    with responses.RequestsMock() as mock:
        api.ninja_token(mock)
        mock.get(f"{api.NINJAONE}/v2/organizations", status=403)
        ok, problem, message = operations.check(connection)
    assert (ok, problem) == (False, "permission")
    assert message == (
        "NinjaOne: the API client may not read /v2/organizations (403: it needs the"
        " monitoring scope)"
    )
