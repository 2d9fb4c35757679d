"""A pagerduty connection against its REST API v2 replayed with `responses`.

The answers are PagerDuty's own examples from its OpenAPI document
(tests/fixtures/vendors/pagerduty_openapi_rest_examples.json, SOURCES.md):
the `GET /incidents` example (incident PT4KHLK, resolved, of service
PIJ90N7 "My Mail Service") and the `GET /log_entries` trigger entry and the
resolve entry. Where a page needs more incidents or entries, the example is
copied with only its id, number, status and times changed (DERIVED); a log
entry's `incident` reference is replaced by the whole incident, as
`include[]=incidents` answers it (DERIVED); an acknowledgement is the
trigger entry with `type` acknowledge_log_entry and a user as its agent
(DERIVED: the document has no acknowledgement example).
"""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from responses import matchers
from sqlalchemy import select

from connectors.connections import operations
from connectors.connections.sources import pagerduty as pd
from connectors.connections.sync import sync
from crm.models import Entity, Event, IngestRun
from tests import live_psa_apis as api
from tests.factories import make_client

EXAMPLES = json.loads(
    (Path(__file__).parent / "fixtures/vendors/pagerduty_openapi_rest_examples.json").read_text()
)
BASE = "https://api.pagerduty.test"
KEY = "u+pd-key-never-shown"
CLOCK = datetime(2015, 10, 7, tzinfo=UTC)
WINDOW = ("2015-04-10T00:00:00Z", "2015-10-07T00:00:00Z")  # 180 days up to the clock
COUNTS = ("accepted", "duplicate", "unmatched", "skipped", "rejected")
USER = {"id": "PXPGF42", "type": "user_reference", "summary": "Earline Greenholt"}


@pytest.fixture
def waits(app, monkeypatch):
    monkeypatch.setattr(pd, "now", lambda: CLOCK)
    return api.keyed(app, monkeypatch)


def connect(session):
    return api.connect_with(session, "pagerduty", BASE, {"api_key": KEY})


def incident(number: int, status: str, minutes: int = 0) -> dict:
    """The example incident, as incident `P<number>` created `minutes` after it."""
    item = copy.deepcopy(EXAMPLES["GET /incidents"]["incidents"][0])
    created = datetime(2015, 10, 6, 21, 30, 42, tzinfo=UTC) + timedelta(minutes=minutes)
    changed = created + timedelta(minutes=8)
    item |= {
        "id": f"P{number}",
        "incident_number": number,
        "status": status,
        "created_at": pd._text(created),
        "last_status_change_at": pd._text(changed if status != "triggered" else created),
        "resolved_at": pd._text(changed) if status == "resolved" else None,
    }
    return item


def entry(kind: str, of: dict, at: str, entry_id: str) -> dict:
    if kind == "resolve":
        item = copy.deepcopy(EXAMPLES["WebhookIncidentAction.log_entries[0]"])
    else:
        item = copy.deepcopy(EXAMPLES["GET /log_entries"]["log_entries"][0])
    item |= {"id": entry_id, "type": f"{kind}_log_entry", "created_at": at, "incident": of}
    if kind == "acknowledge":
        item |= {"agent": USER, "summary": "Acknowledged by Earline Greenholt"}
    return item


def listed(mock, path: str, key: str, pages: list[list[dict]], window=WINDOW, offset=0):
    """Offset pages of one window, `more` on all but the last."""
    extra = (
        {"sort_by": "created_at:asc"}
        if key == "incidents"
        else {"is_overview": "true", "include[]": "incidents"}
    )
    for number, found in enumerate(pages, 1):
        query = {"since": window[0], "until": window[1], "limit": str(pd.LIMIT)}
        query |= {"offset": str(offset)} | extra
        answer = {key: found, "limit": pd.LIMIT, "offset": offset, "more": number < len(pages)}
        mock.get(f"{BASE}{path}", json=answer, match=[matchers.query_param_matcher(query)])
        offset += len(found)


def states(session) -> dict:
    return {
        e.key: (e.status, e.client_id, e.priority)
        for e in session.scalars(select(Entity).where(Entity.type == "alert"))
    }


def test_incidents_and_log_entries_paged_by_offset_become_alert_threads(
    session, waits, monkeypatch
):
    monkeypatch.setattr(pd, "LIMIT", 2)
    acme = make_client("acme", identities=[("pagerduty", "PIJ90N7")])
    connection = connect(session)
    triggered, acknowledged, resolved = (
        incident(1, "triggered"),
        incident(2, "acknowledged", 1),
        incident(3, "resolved", 2),
    )
    with responses.RequestsMock() as mock:
        listed(mock, "/incidents", "incidents", [[triggered, acknowledged], [resolved]])
        listed(
            mock,
            "/log_entries",
            "log_entries",
            [[entry("trigger", triggered, "2015-10-06T21:30:42Z", "Q1")], []],
        )
        run = sync(session, connection, "test")
        calls = [c.request for c in mock.calls]
    assert run.status == "finished", connection.last_error
    assert {c.headers["Authorization"] for c in calls} == {f"Token token={KEY}"}
    assert {c.headers["Accept"] for c in calls} == {pd.ACCEPT}
    assert [c.url.split("offset=")[1].split("&")[0] for c in calls] == ["0", "2", "0", "1"]
    assert states(session) == {
        "P1": ("firing", acme.id, "high"),
        "P2": ("acknowledged", acme.id, "high"),
        "P3": ("resolved", acme.id, "high"),
    }
    # The trigger entry repeats P1's raise: one event, counted a duplicate.
    assert (run.accepted, run.duplicate, run.rejected) == (3, 1, 0)
    assert connection.cursors() == {
        "incidents": {"since": WINDOW[1]},
        "log_entries": {"since": WINDOW[1]},
    }


def test_a_sync_killed_mid_page_resumes_with_nothing_twice_and_nothing_skipped(
    session, waits, monkeypatch
):
    monkeypatch.setattr(pd, "LIMIT", 2)
    make_client("acme", identities=[("pagerduty", "PIJ90N7")])
    connection = connect(session)
    found = [incident(n, "triggered", n) for n in range(1, 5)]
    with responses.RequestsMock() as mock:
        listed(mock, "/incidents", "incidents", [found[:2], found[2:]])
        listed(mock, "/log_entries", "log_entries", [[]])
        assert sync(session, connection, "test").status == "finished"
    assert {state for state, _, _ in states(session).values()} == {"firing"}
    # A day later: the incidents are acknowledged and resolved, three pages of steps.
    later = CLOCK + timedelta(days=1)
    monkeypatch.setattr(pd, "now", lambda: later)
    day = (WINDOW[1], pd._text(later))
    steps = [
        entry("acknowledge", found[0], "2015-10-07T08:00:00Z", "A1"),
        entry("acknowledge", found[1], "2015-10-07T08:05:00Z", "A2"),
        entry("resolve", found[0] | {"status": "resolved"}, "2015-10-07T09:00:00Z", "R1"),
        entry("acknowledge", found[2], "2015-10-07T09:30:00Z", "A3"),
        entry("resolve", found[3] | {"status": "resolved"}, "2015-10-07T10:00:00Z", "R4"),
    ]
    pages = [steps[:2], steps[2:4], steps[4:]]
    recover = api.die_on_second_page(monkeypatch, "log_entries")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        listed(mock, "/incidents", "incidents", [[]], window=day)
        listed(mock, "/log_entries", "log_entries", pages, window=day)
        with pytest.raises(api.Killed):
            sync(session, connection, "test")
    assert session.get(IngestRun, connection.last_run_id).status == "failed"
    assert connection.cursors()["log_entries"] == {"since": day[0], "until": day[1], "offset": 2}

    recover()
    with responses.RequestsMock() as mock:  # the incidents' window is read: no call
        listed(mock, "/log_entries", "log_entries", pages[1:], window=day, offset=2)
        second = sync(session, connection, "test")
    assert second.status == "finished", connection.last_error
    assert tuple(getattr(second, name) for name in COUNTS) == (3, 0, 0, 0, 0)
    steps_stored = session.scalars(
        select(Event.external_id).where(Event.kind != "alert.raised")
    ).all()
    assert len(steps_stored) == len(set(steps_stored)) == 5
    assert {key: state for key, (state, _, _) in states(session).items()} == {
        "P1": "resolved",
        "P2": "acknowledged",
        "P3": "acknowledged",
        "P4": "resolved",
    }
    assert connection.cursors()["log_entries"] == {"since": day[1]}


def test_429_waits_as_retry_after_says_and_a_5xx_backs_off(session, waits):
    connection = connect(session)
    url = f"{BASE}/incidents"
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers={"Retry-After": "7"})
        mock.get(url, status=502)
        listed(mock, "/incidents", "incidents", [[]])
        listed(mock, "/log_entries", "log_entries", [[]])
        run = sync(session, connection, "test")
        statuses = [c.response.status_code for c in mock.calls if c.request.url.startswith(url)]
    assert run.status == "finished", connection.last_error
    assert statuses == [429, 502, 200]
    assert waits[0] == 7
    assert 1.0 <= waits[1] <= 2.0  # the second attempt's backoff


def test_the_connection_is_added_from_the_page_and_its_test_names_a_bad_key(waits, client):
    page = client.post(
        "/connections", data={"vendor": "pagerduty", "name": "oncall", "pagerduty-api_key": KEY}
    )
    assert page.status_code == 302
    added = client.get("/api/v1/connections/oncall").get_json()
    assert added["base_url"] == "https://api.pagerduty.com"
    error = {"error": {"message": "Unauthorized", "code": 2006}}
    with responses.RequestsMock() as mock:
        mock.get("https://api.pagerduty.com/incidents", status=401, json=error)
        said = client.post("/api/v1/connections/oncall/test").get_json()
    assert (said["ok"], said["problem"], said["message"]) == (
        False,
        "credentials",
        "PagerDuty refused the API key (401)",
    )
    assert "never-shown" not in json.dumps(said) + client.get("/connections").get_data(True)


def test_a_key_without_access_to_incidents_is_named(waits, session):
    connection = connect(session)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/incidents", status=403, json={"error": {"message": "Forbidden"}})
        ok, problem, message = operations.check(connection)
    assert (ok, problem) == (False, "permission")
    assert message.startswith("PagerDuty: this API key may not read /incidents (403")


def test_past_the_offset_limit_the_window_is_read_in_halves_and_long_gaps_in_windows(
    session, waits, monkeypatch
):
    """Offsets stop at MAX_OFFSET: the first half of the window is read again
    by itself, then the rest; a connection idle past six months catches up in
    windows of at most six months."""
    monkeypatch.setattr(pd, "LIMIT", 2)
    monkeypatch.setattr(pd, "MAX_OFFSET", 4)
    make_client("acme", identities=[("pagerduty", "PIJ90N7")])
    connection = connect(session)
    found = [incident(n, "triggered", n) for n in range(1, 6)]
    half = ("2015-04-10T00:00:00Z", "2015-07-09T00:00:00Z")
    with responses.RequestsMock() as mock:
        for offset in (0, 2):  # full pages: the next would pass 4
            query = {"since": WINDOW[0], "until": WINDOW[1], "offset": str(offset)}
            mock.get(
                f"{BASE}/incidents",
                json={"incidents": found[offset : offset + 2], "more": True},
                match=[matchers.query_param_matcher(query, strict_match=False)],
            )
        listed(mock, "/incidents", "incidents", [found[:2], found[2:4]], window=half)
        listed(mock, "/incidents", "incidents", [found[4:]], window=(half[1], WINDOW[1]))
        listed(mock, "/log_entries", "log_entries", [[]])
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    assert (run.accepted, run.duplicate, run.skipped) == (5, 4, 0)
    assert connection.cursors()["incidents"] == {"since": WINDOW[1]}

    # Eight months later: a window of six months, then the rest up to now.
    later = CLOCK + timedelta(days=240)
    monkeypatch.setattr(pd, "now", lambda: later)
    windows = [(WINDOW[1], "2016-04-04T00:00:00Z"), ("2016-04-04T00:00:00Z", pd._text(later))]
    with responses.RequestsMock() as mock:
        for window in windows:
            listed(mock, "/incidents", "incidents", [[]], window=window)
            listed(mock, "/log_entries", "log_entries", [[]], window=window)
        assert sync(session, connection, "test").status == "finished"
    assert connection.cursors()["log_entries"] == {"since": pd._text(later)}
