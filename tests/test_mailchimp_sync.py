"""A mailchimp connection against the Marketing API 3.0 replayed with
`responses`: the answers are BUILT to Mailchimp's documented shapes
(tests/fixtures/vendors/mailchimp_marketing_api_DOCUMENTED_SHAPE.json,
SOURCES.md), with the ids and addresses of its documented webhook samples,
so that a step seen by the webhook and by the API is one event."""

import base64
import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
from responses import matchers
from sqlalchemy import select

from connectors.connections import operations
from connectors.connections.sources import mailchimp as mc
from connectors.connections.sync import sync
from crm.models import Event, InboxRecord, IngestRun
from tests import live_psa_apis as api
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
SHAPES = json.loads((VENDORS / "mailchimp_marketing_api_DOCUMENTED_SHAPE.json").read_text())
WEBHOOKS = VENDORS / "mailchimp_webhooks_documented_sample_DERIVED.txt"
KEY = "0123456789abcdef-never-shown-us6"
HOST = "https://us6.api.mailchimp.com/3.0"  # the key's data centre
CLOCK = datetime(2009, 4, 3, tzinfo=UTC)
STARTED = "2009-04-03T00:00:00+00:00"
LIST, CAMPAIGNS = "a6b5da1054", ("cb398d21d2", "4fjk2ma9xd")
COUNTS = ("accepted", "duplicate", "unmatched", "skipped", "rejected")


@pytest.fixture
def waits(app, monkeypatch):
    monkeypatch.setattr(mc, "now", lambda: CLOCK)
    return api.keyed(app, monkeypatch)


def shape(name: str) -> dict:
    return copy.deepcopy(SHAPES[name])


def answer(mock, path: str, body: dict, **query) -> None:
    query = {k: str(v) for k, v in query.items()}
    mock.get(f"{HOST}{path}", json=body, match=[matchers.query_param_matcher(query)])


def paged(mock, path: str, key: str, items: list, offsets: list[int], **query) -> None:
    """One answer for each offset, `count` long, with `total_items`."""
    for offset in offsets:
        found = items[offset : offset + mc.COUNT]
        body = {key: found, "total_items": len(items)}
        answer(mock, path, body, **query, count=mc.COUNT, offset=offset)


def audiences(mock, members: list, offsets: list[int], **since) -> None:
    paged(mock, "/lists", "lists", [{"id": LIST}], [0], fields="lists.id,total_items")
    paged(mock, f"/lists/{LIST}/members", "members", members, offsets, **since)


def campaigns(mock, sent_after: str = "2009-01-03T00:00:00+00:00") -> None:
    listed = [{"id": campaign} for campaign in CAMPAIGNS]
    query = {"status": "sent", "since_send_time": sent_after, "sort_field": "send_time"}
    query |= {"sort_dir": "ASC", "fields": "campaigns.id,total_items"}
    paged(mock, "/campaigns", "campaigns", listed, [0], **query)


def activity(mock, emails: list, offsets: list[int], **since) -> None:
    path = "/reports/{}/email-activity"
    paged(mock, path.format(CAMPAIGNS[0]), "emails", emails, offsets, **since)
    paged(mock, path.format(CAMPAIGNS[1]), "emails", [], [0], **since)


def timeline(session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Event.kind, Event.external_id).where(Event.origin == "mailchimp")
    ).tuples()
    return sorted(rows)


def connect(session):
    return api.connect_with(session, "mailchimp", None, {"api_key": KEY})


def test_members_and_email_activity_paged_one_event_beside_the_webhooks(
    runner, session, waits, monkeypatch
):
    monkeypatch.setattr(mc, "COUNT", 3)
    monkeypatch.setattr(mc, "OVERLAP", 1)
    make_client("mailchimp-co", identities=[("domain", "mailchimp.com")])
    ingest_file(runner, "mailchimp", WEBHOOKS)  # subscribe, unsubscribe, cleaned
    before = timeline(session)
    connection = connect(session)
    assert connection.base_url == mc.DEFAULT_BASE_URL  # the key names its own host
    members = shape("GET /lists/a6b5da1054/members")["members"]
    emails = shape("GET /reports/cb398d21d2/email-activity")["emails"]
    with responses.RequestsMock() as mock:
        audiences(mock, members, [0, 2])  # the second page begins one early
        campaigns(mock)
        activity(mock, emails, [0, 2])
        run = sync(session, connection, "test")
        calls = [c.request for c in mock.calls]
    assert run.status == "finished", connection.last_error
    expected = "Basic " + base64.b64encode(f"touchline:{KEY}".encode()).decode()
    assert {c.headers["Authorization"] for c in calls} == {expected}
    # Subscribe (at its opt-in) and cleaned, as the webhooks said them, and the
    # cleaned member read twice at the pages' overlap: duplicates; pending skipped.
    assert tuple(getattr(run, name) for name in COUNTS) == (6, 3, 0, 1, 0)
    added = sorted(set(timeline(session)) - set(before))
    assert added == sorted(
        [
            ("email.bounced", "bounce:397dafce8a0669ce264f7fba58234975:2009-03-26 22:00:05"),
            ("email.clicked", "click:6def22f266be37015519943ce0c3ae6b:2009-03-26 23:11:30"),
            ("email.opened", "open:6def22f266be37015519943ce0c3ae6b:2009-03-26 23:10:00"),
            ("email.opened", "open:0223b07eff35384a5ee66de38d962c8e:2009-03-27 08:55:00"),
            ("email.opened", "open:0223b07eff35384a5ee66de38d962c8e:2009-03-27 08:58:00"),
            ("email.unsubscribed", "unsubscribe:3b9f0c2a71:2009-03-27 09:00:00"),
        ]
    )
    click = session.scalars(select(Event).where(Event.kind == "email.clicked")).one()
    assert (click.thread_key, click.attributes["url"]) == (
        "campaign:cb398d21d2",
        "https://mailchimp.com/features/",
    )
    assert connection.cursors() == {
        "members": {"since": STARTED},
        "email_activity": {"since": STARTED},
    }
    # The next sync asks only for what changed since.
    with responses.RequestsMock() as mock:
        audiences(mock, [], [0], since_last_changed=STARTED)
        campaigns(mock, "2009-01-03T00:00:00+00:00")
        activity(mock, [], [0], since=STARTED)
        assert sync(session, connection, "test").status == "finished"


def test_a_sync_killed_mid_page_resumes_with_nothing_stored_twice_or_skipped(
    session, waits, monkeypatch
):
    monkeypatch.setattr(mc, "COUNT", 2)
    monkeypatch.setattr(mc, "OVERLAP", 1)
    make_client("mailchimp-co", identities=[("domain", "mailchimp.com")])
    connection = connect(session)
    emails = shape("GET /reports/cb398d21d2/email-activity")["emails"]
    recover = api.die_on_second_page(monkeypatch, "emails")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        audiences(mock, [], [0])
        campaigns(mock)
        activity(mock, emails, [0, 1, 2])
        with pytest.raises(api.Killed):
            sync(session, connection, "test")
    assert session.get(IngestRun, connection.last_run_id).status == "failed"
    state = {"started": STARTED, "campaign": CAMPAIGNS[0], "offset": 1}
    assert connection.cursors()["email_activity"] == state
    assert len(timeline(session)) == 3  # the first page: open, click, bounce

    recover()
    with responses.RequestsMock() as mock:
        audiences(mock, [], [0], since_last_changed=STARTED)
        campaigns(mock)
        activity(mock, emails, [1, 2])
        second = sync(session, connection, "test")
    assert second.status == "finished", connection.last_error
    # The bounce again at the pages' one-member overlap: a duplicate, by design.
    assert tuple(getattr(second, name) for name in COUNTS) == (2, 1, 0, 0, 0)
    stored = [external_id for _, external_id in timeline(session)]
    assert len(stored) == len(set(stored)) == 5
    assert connection.cursors()["email_activity"] == {"since": STARTED}


def test_429_waits_as_retry_after_says_and_a_5xx_backs_off(session, waits):
    connection = connect(session)
    with responses.RequestsMock() as mock:
        mock.get(f"{HOST}/lists", status=429, headers={"Retry-After": "3"})
        mock.get(f"{HOST}/lists", status=503)
        audiences(mock, [], [0])
        campaigns(mock)
        activity(mock, [], [0])
        run = sync(session, connection, "test")
        statuses = [c.response.status_code for c in mock.calls]
    assert run.status == "finished", connection.last_error
    assert statuses[:3] == [429, 503, 200]
    assert waits[0] == 3 and 1.0 <= waits[1] <= 2.0


def test_the_connection_test_names_a_bad_key_and_a_key_without_its_data_centre(waits, client):
    page = client.post(
        "/connections", data={"vendor": "mailchimp", "name": "news", "mailchimp-api_key": KEY}
    )
    assert page.status_code == 302
    problem = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": "API Key Invalid",
        "status": 401,
        "detail": "Your API key may be invalid, or you've attempted to access the wrong"
        " datacenter.",
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{HOST}/lists", status=401, json=problem)
        said = client.post("/api/v1/connections/news/test").get_json()
    assert (said["ok"], said["problem"]) == (False, "credentials")
    assert said["message"] == f"Mailchimp refused the API key (401: {problem['detail']})"
    assert "never-shown" not in json.dumps(said) + client.get("/connections").get_data(True)


def test_a_key_without_a_data_centre_is_named(waits, session):
    connection = api.connect_with(session, "mailchimp", None, {"api_key": "0123456789abcdef"})
    ok, problem, message = operations.check(connection)
    assert (ok, problem) == (False, "credentials")
    assert "ends in its data centre (like -us6)" in message


def test_an_unreadable_activity_is_rejected_naming_it_and_a_gone_campaign_restarts(
    session, waits, monkeypatch
):
    make_client("mailchimp-co", identities=[("domain", "mailchimp.com")])
    connection = connect(session)
    emails = shape("GET /reports/cb398d21d2/email-activity")["emails"]
    emails[0]["activity"][0]["timestamp"] = "last tuesday"
    emails[1]["activity"] = "bounced"
    with responses.RequestsMock() as mock:
        audiences(mock, [], [0])
        campaigns(mock)
        activity(mock, emails, [0])
        run = sync(session, connection, "test")
    assert (run.accepted, run.rejected) == (3, 2), connection.last_error
    reasons = sorted(
        r.reason
        for r in session.scalars(select(InboxRecord).where(InboxRecord.status == "rejected"))
    )
    assert reasons == ["fired_at is not a date and time", "no activity list"]
    # A campaign the state names that is gone: its list is read from the first.
    (saved,) = [saved for saved in connection.streams if saved.stream == "email_activity"]
    saved.state = {"started": STARTED, "campaign": "deleted01", "offset": 7}
    session.commit()
    with responses.RequestsMock() as mock:
        audiences(mock, [], [0], since_last_changed=STARTED)
        campaigns(mock)
        activity(mock, [], [0])  # from the first campaign, its first page
        assert sync(session, connection, "test").status == "finished"
