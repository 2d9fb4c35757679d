"""Syncing connections against vendors' APIs replayed from recorded
responses (tests/vendor_apis.py): paging, limits, and a sync killed mid-page
that resumes with nothing written twice and nothing skipped. The tests that
take `processes` run twice: the pages ingested in the sync's own process,
and read by two worker processes while it fetches (page_lines)."""

import email.utils
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from connectors.connections import operations, transport
from connectors.connections.models import Connection
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources import stripe as stripe_source
from connectors.connections.sync import sync
from crm.models import Event, InboxRecord, IngestRun
from tests import vendor_apis as api
from tests.factories import make_client


@pytest.fixture
def waits(app, monkeypatch):
    """The key the credentials are sealed with, and the waits the transport
    asked for (recorded, not spent)."""
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    asked: list[float] = []
    monkeypatch.setattr(transport, "sleep", asked.append)
    return asked


@pytest.fixture(params=[1, 2], ids=["in-turn", "workers"])
def processes(request):
    return request.param


def connect(session, vendor: str, name: str | None = None, **credentials) -> Connection:
    base = api.ZENDESK if vendor == "zendesk" else api.STRIPE
    data = NewConnectionSchema().load(
        {"vendor": vendor, "name": name or vendor, "base_url": base, "credentials": credentials}
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


def zendesk(session) -> Connection:
    return connect(session, "zendesk", email="agent@acme.example", api_token="zd-token-1")


def tickets_stored(session) -> tuple[set[str], list[str]]:
    """The tickets on a timeline (each a thread), and those waiting in the
    inbox, one row per record kept: a ticket stored twice shows in either."""
    placed = set(
        session.scalars(
            select(Event.thread_key).where(Event.origin == "zendesk", Event.thread_key.is_not(None))
        )
    )
    waiting = session.scalars(
        select(InboxRecord.natural_key).where(
            InboxRecord.connector == "zendesk",
            InboxRecord.locator.like("tickets%"),
            InboxRecord.status == "unmatched",
        )
    ).all()
    return placed, [key.split(":")[0].split("@")[0] for key in waiting]


def assert_each_ticket_once(session, tickets: list[dict]) -> None:
    placed, waiting = tickets_stored(session)
    assert len(waiting) == len(set(waiting))
    assert placed.isdisjoint(waiting)
    assert placed | set(waiting) == {str(t["id"]) for t in tickets}


def test_zendesk_pages_through_the_export_and_keeps_each_cursor(session, waits, processes):
    make_client("acme", identities=[("zendesk", str(api.ORGANIZATION))])
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    with api.replayed() as mock:
        api.add_zendesk(mock, api.cursor_pages(tickets, "tickets", [40, 40, 20], "t"))
        run = sync(session, connection, "test", processes=processes)
        ticket_calls = [c for c in mock.calls if "/tickets/" in c.request.url]
    assert run.status == "finished"
    # The one duplicate: the organization, mapped already, tells nothing new.
    assert run.duplicate == 1 and run.rejected == 0 and run.skipped == 0
    assert len(ticket_calls) == 3
    assert "start_time=0" in ticket_calls[0].request.url
    assert "cursor=t1" in ticket_calls[1].request.url and "cursor=t2" in ticket_calls[2].request.url
    assert all("include=users%2Cmetric_sets" in c.request.url for c in ticket_calls)
    assert connection.cursors() == {
        "organizations": {"start_time": 1451439486},
        "ticket_events": {"start_time": 0},  # none yet
        "tickets": {"cursor": "t3"},
        "users": {"cursor": "u1"},
    }
    # The tickets of the mapped organization are on its timeline, the others wait.
    assert run.total == 1 + 1 + len(tickets)  # the organization, the user, the tickets
    placed, _ = tickets_stored(session)
    assert {str(t["id"]) for t in tickets if t["organization_id"] == api.ORGANIZATION} <= placed
    assert_each_ticket_once(session, tickets)
    assert connection.last_run_id == run.id and connection.next_run_at is not None


def test_the_next_sync_starts_from_the_saved_cursor(session, waits):
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    with api.replayed() as mock:
        api.add_zendesk(mock, api.cursor_pages(tickets, "tickets", [100], "t"))
        sync(session, connection, "test")
    with api.replayed() as mock:
        later = api.cursor_pages([], "tickets", [0], "later")
        api.add_zendesk(mock, later, ticket_cursor_start="t1")
        run = sync(session, connection, "test")
    assert run.status == "finished"
    assert connection.cursors()["tickets"] == {"cursor": "later1"}


class Killed(BaseException):
    """The process dies: no `except Exception` catches it."""


def test_a_sync_killed_mid_page_resumes_with_no_duplicates_and_nothing_skipped(
    session, waits, monkeypatch, processes
):
    make_client("acme", identities=[("zendesk", str(api.ORGANIZATION))])
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    pages = api.cursor_pages(tickets, "tickets", [30, 30, 40], "t")
    from connectors.pipeline import pages as page_module

    real_write = page_module.write
    second_page_starts = tickets[30]["id"]  # known by its rows: each worker counts apart

    def dies_on_the_second_ticket_page(batch, writers):
        real_write(batch, writers)  # its rows are in the transaction, not committed
        tickets_page = any(r.locator.startswith("tickets") for r in batch.records)
        if tickets_page and batch.records[0].data["id"] == second_page_starts:
            raise Killed

    monkeypatch.setattr(page_module, "write", dies_on_the_second_ticket_page)
    with api.replayed() as mock:
        api.add_zendesk(mock, pages)
        with pytest.raises(Killed):
            sync(session, connection, "test", processes=processes)
    first = session.get(IngestRun, connection.last_run_id)
    assert first.status == "failed"
    assert connection.cursors()["tickets"] == {"cursor": "t1"}  # page 2's never committed
    placed, waiting = tickets_stored(session)
    assert placed | set(waiting) == {str(t["id"]) for t in tickets[:30]}

    monkeypatch.setattr(page_module, "write", real_write)
    with api.replayed() as mock:
        api.add_zendesk(mock, pages[1:], ticket_cursor_start="t1")
        second = sync(session, connection, "test", processes=processes)
        asked = [c.request.url for c in mock.calls if "/tickets/" in c.request.url]
    assert second.status == "finished"
    # Page 2 was never stored, so no ticket comes twice. The one duplicate is the
    # organization: Zendesk's time-based export starts at the `end_time` it
    # gave, so its last organization comes again (as the documentation warns).
    assert second.duplicate == 1
    assert "cursor=t1" in asked[0]
    assert first.total + second.total == 2 + 2 + len(tickets) - 30 + 30
    assert_each_ticket_once(session, tickets)  # 0 duplicates, 0 skipped
    assert connection.cursors()["tickets"] == {"cursor": "t3"}


def test_429_waits_as_retry_after_says_and_5xx_backs_off(session, waits):
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    url = f"{api.ZENDESK}/api/v2/incremental/tickets/cursor.json"
    with api.replayed() as mock:
        # Registered first, answered first: a 429, then a 503, then the page.
        mock.get(
            url, status=429, headers={"Retry-After": "93"}, json={"error": "APIRateLimitExceeded"}
        )
        mock.get(url, status=503, body="Service Unavailable")
        api.add_zendesk(mock, api.cursor_pages(tickets, "tickets", [100], "t"))
        run = sync(session, connection, "test")
        statuses = [c.response.status_code for c in mock.calls if c.request.url.startswith(url)]
    assert run.status == "finished" and run.total > 100
    assert statuses == [429, 503, 200]
    assert waits[0] == 93
    # The second attempt failed: half to all of 2 × BASE_DELAY, jittered.
    assert transport.BASE_DELAY <= waits[1] <= 2 * transport.BASE_DELAY


def test_a_server_that_keeps_failing_pauses_the_connection_with_the_reason(session, waits):
    connection = zendesk(session)
    with api.replayed() as mock:
        mock.get(f"{api.ZENDESK}/api/v2/incremental/organizations.json", status=502)
        for _ in range(3):
            run = sync(session, connection, "test")
            assert run.status == "failed"
    assert len(waits) == 3 * (transport.ATTEMPTS - 1)
    # Each sync's waits double, each a random half to all of its ceiling.
    ceilings = [transport.BASE_DELAY * 2**n for n in range(transport.ATTEMPTS - 1)] * 3
    assert all(c / 2 <= wait <= c for wait, c in zip(waits, ceilings, strict=True))
    assert connection.status == "paused"
    assert "paused after 3 failed syncs" in connection.status_reason
    assert "502" in connection.status_reason


def test_a_revoked_key_pauses_at_once(session, waits):
    connection = zendesk(session)
    with api.replayed() as mock:
        mock.get(
            f"{api.ZENDESK}/api/v2/incremental/organizations.json",
            status=401,
            json={"error": "Couldn't authenticate you"},
        )
        run = sync(session, connection, "test")
    assert run.status == "failed"
    assert connection.status == "paused"
    assert connection.status_reason == "Zendesk refused the email and API token (401)"


def test_stripe_backfills_every_list_then_follows_newer_events(
    session, waits, monkeypatch, processes
):
    monkeypatch.setattr(stripe_source, "LIMIT", 2)
    make_client("acme", identities=[("stripe", api.CUSTOMER)])
    connection = connect(session, "stripe", api_key="sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    everyone = api.customers(5)
    events = api.stripe_events(3)
    with api.replayed() as mock:
        api.add_stripe_list(mock, "customers", everyone, 2)
        for name in ("invoices", "charges", "disputes", "refunds", "subscriptions"):
            api.add_stripe_list(mock, name, [], 2)
        api.add_stripe_list(mock, "events", events, 2)
        run = sync(session, connection, "test", processes=processes)
        customer_calls = [c.request.url for c in mock.calls if "/v1/customers" in c.request.url]
        subscriptions = next(
            c.request.url for c in mock.calls if "/v1/subscriptions" in c.request.url
        )
    assert run.status == "finished", run.error
    assert len(customer_calls) == 3
    assert "starting_after=cus_0001TEST" in customer_calls[1]
    assert "status=all" in subscriptions
    assert "expand[0]=data.discounts" in unquote(subscriptions)  # coupons that price them
    cursors = connection.cursors()
    assert cursors["customers"] == {"starting_after": "cus_0004TEST", "done": True}
    assert cursors["events"] == {"ending_before": events[0]["id"]}
    invoices = session.scalars(select(Event.external_id).where(Event.origin == "stripe")).all()
    assert {key.split(":")[0] for key in invoices} == {f"in_{n:04d}TEST" for n in range(3)}

    newer = api.stripe_events(5)[:2]  # two events since
    with api.replayed() as mock:
        mock.get(
            f"{api.STRIPE}/v1/events",
            json=api.stripe_list("/v1/events", newer, False),
            match=[api._query({"ending_before": events[0]["id"]})],
        )
        later = sync(session, connection, "test", processes=processes)
        asked = [c.request.url for c in mock.calls]
    assert later.status == "finished"
    assert all("/v1/events" in url for url in asked)  # the backfills are done
    assert later.duplicate == 0 and later.total == 2
    assert connection.cursors()["events"] == {"ending_before": newer[0]["id"]}


def test_retry_after_as_an_http_date_and_a_wait_too_long_to_spend(waits):
    url = f"{api.ZENDESK}/api/v2/users/me.json"
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with api.replayed() as mock:
        mock.get(url, status=429, headers={"Retry-After": soon})
        mock.get(url, json=api.zendesk_me())
        answer = transport.Transport().request("GET", url)
    assert answer.status_code == 200
    assert 100 < waits[0] <= 120
    with api.replayed() as mock:
        mock.get(url, status=429, headers={"Retry-After": str(transport.MAX_WAIT + 1)})
        with pytest.raises(transport.SourceError) as raised:
            transport.Transport().request("GET", url)
    assert raised.value.kind == "limit"
    assert str(raised.value) == "acme.zendesk.test is rate limiting (asked to wait 301 s)"
