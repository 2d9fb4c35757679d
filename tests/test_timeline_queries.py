"""The timeline query: keyset pages, filters, threads and commitments."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm.timeline.queries import (
    BadCursor,
    Position,
    TimelineFilter,
    commitments,
    thread,
    timeline_page,
)
from tests.factories import BASE_TIME, make_client, stored_event


def all_pages(session, client_id, filters=None, limit=4):
    """Every page, following the cursors; the ids of each page."""
    pages, after = [], None
    while True:
        page = timeline_page(session, client_id, filters, limit=limit, after=after)
        pages.append([row.id for row in page.rows])
        if page.next_cursor is None:
            return pages
        after = Position.decode(page.next_cursor)


def test_pages_never_repeat_or_skip_events_that_share_a_timestamp(session):
    client = make_client()
    # 3 events at hour 0, 5 at hour 1 (spanning page boundaries of 4), 3 more.
    hours = [0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 3]
    events = [stored_event(client, "note", hour, title=f"n{i}") for i, hour in enumerate(hours)]
    expected = [e.id for e in sorted(events, key=lambda e: (e.occurred_at, e.id), reverse=True)]

    pages = all_pages(session, client.id, limit=4)

    assert [len(page) for page in pages] == [4, 4, 3]
    assert [event_id for page in pages for event_id in page] == expected


def test_a_page_that_ends_exactly_at_the_end_has_no_cursor(session):
    client = make_client()
    for hour in range(4):
        stored_event(client, "note", hour)
    assert [len(page) for page in all_pages(session, client.id, limit=2)] == [2, 2]
    assert timeline_page(session, client.id, limit=4).next_cursor is None


def test_events_arriving_meanwhile_do_not_shift_older_pages(session):
    client = make_client()
    for hour in range(6):
        stored_event(client, "note", hour, title=f"h{hour}")
    first = timeline_page(session, client.id, limit=3)
    stored_event(client, "note", 10, title="newer")
    older = timeline_page(session, client.id, limit=3, after=Position.decode(first.next_cursor))
    assert [row.title for row in older.rows] == ["h2", "h1", "h0"]


def test_only_the_clients_own_events(session):
    mine, other = make_client(), make_client()
    stored_event(mine, "note", 0, title="mine")
    stored_event(other, "note", 1, title="theirs")
    assert [row.title for row in timeline_page(session, mine.id).rows] == ["mine"]


def test_rows_carry_amounts_and_the_status_the_event_gives(session):
    client = make_client()
    stored_event(
        client,
        "ticket.updated",
        0,
        thread="T-1",
        status="pending",
        actor="Ana",
        url="https://desk.example/T-1",
    )
    stored_event(
        client, "payment.received", 1, thread="INV-1", amount=Decimal("12.5"), currency="EUR"
    )
    paid, updated = timeline_page(session, client.id).rows
    assert (paid.amount, paid.currency, paid.status) == (Decimal("12.5"), "EUR", None)
    assert (updated.status, updated.actor, updated.url) == (
        "pending",
        "Ana",
        "https://desk.example/T-1",
    )
    assert (updated.thread_type, updated.thread_key) == ("ticket", "T-1")
    assert updated.occurred_at == BASE_TIME


@pytest.fixture
def mixed(session):
    client = make_client()
    stored_event(client, "invoice.issued", 0, thread="INV-1", title="Invoice INV-1")
    stored_event(client, "alert.raised", 24, thread="A-1", title="Disk full on NAS")
    stored_event(client, "ticket.opened", 48, thread="T-1", title="Printer offline", actor="Bob")
    stored_event(client, "note", 72, title="Call notes", detail="Asked about the PRINTER fleet")
    stored_event(client, "call", 96, title="Budget 100% approved", actor="Carla")
    return client


def titles(session, client, **filters):
    return [row.title for row in timeline_page(session, client.id, TimelineFilter(**filters)).rows]


def test_filter_by_sources_and_kinds(session, mixed):
    assert titles(session, mixed, sources=("billing", "rmm")) == [
        "Disk full on NAS",
        "Invoice INV-1",
    ]
    assert titles(session, mixed, kinds=("note", "call")) == ["Budget 100% approved", "Call notes"]
    assert titles(session, mixed, sources=("manual",), kinds=("call",)) == ["Budget 100% approved"]


def test_filter_by_utc_days_both_included(session, mixed):
    # BASE_TIME is 1 Oct 09:00 UTC; the events are a day apart.
    assert titles(session, mixed, since=date(2026, 10, 2), until=date(2026, 10, 3)) == [
        "Printer offline",
        "Disk full on NAS",
    ]
    assert titles(session, mixed, since=date(2026, 10, 5)) == ["Budget 100% approved"]
    assert titles(session, mixed, until=date(2026, 10, 1)) == ["Invoice INV-1"]


def test_free_text_in_title_detail_or_actor_in_any_case(session, mixed):
    assert titles(session, mixed, text="printer") == ["Call notes", "Printer offline"]
    assert titles(session, mixed, text="CARLA") == ["Budget 100% approved"]
    assert titles(session, mixed, text="bob") == ["Printer offline"]


def test_free_text_matches_wildcards_literally(session, mixed):
    assert titles(session, mixed, text="100%") == ["Budget 100% approved"]
    assert titles(session, mixed, text="0%a") == []
    assert titles(session, mixed, text="_") == []


def test_filtered_pages_never_repeat_or_skip(session):
    client = make_client()
    expected = []
    for i in range(9):
        event = stored_event(client, "note" if i % 3 else "call", i // 2, title=f"t{i}")
        if event.kind == "note":
            expected.append(event)
    expected.sort(key=lambda e: (e.occurred_at, e.id), reverse=True)
    pages = all_pages(session, client.id, TimelineFilter(kinds=("note",)), limit=2)
    assert [i for page in pages for i in page] == [e.id for e in expected]


def test_cursor_round_trip_and_garbage():
    position = Position(datetime(2026, 10, 1, 9, 0, 0, 123456, tzinfo=UTC), 42)
    assert Position.decode(position.encode()) == position
    for garbage in ("", "nope", "!!!", "MTIz", Position(position.occurred_at, 1).encode() + "x"):
        with pytest.raises(BadCursor):
            Position.decode(garbage)


def test_thread_events_oldest_first_with_state(session):
    client = make_client()
    stored_event(client, "ticket.resolved", 5, thread="T-9", actor="Bob")
    stored_event(client, "ticket.opened", 0, thread="T-9", title="VPN drops", priority="high")
    stored_event(client, "ticket.opened", 1, thread="T-10", title="Other ticket")

    found = thread(session, client.id, "ticket", "T-9")

    assert [row.kind for row in found.events] == ["ticket.opened", "ticket.resolved"]
    assert (found.state.status, found.state.title, found.state.priority) == (
        "resolved",
        "VPN drops",
        "high",
    )
    assert thread(session, client.id, "ticket", "T-404") is None
    assert thread(session, client.id, "nonsense", "T-9") is None
    assert thread(session, make_client().id, "ticket", "T-9") is None


def test_a_thread_without_state_still_has_its_events(session):
    client = make_client()
    stored_event(client, "campaign.sent", 0, thread="NL-1", title="Newsletter")
    stored_event(client, "email.opened", 2, thread="NL-1", title="Newsletter")
    found = thread(session, client.id, "campaign", "NL-1")
    assert found.state is None
    assert [row.kind for row in found.events] == ["campaign.sent", "email.opened"]


def test_commitments_by_state(session):
    client = make_client()
    now = BASE_TIME + timedelta(hours=10)
    stored_event(client, "commitment.made", 0, thread="C-late", due_at=now - timedelta(hours=1))
    stored_event(client, "commitment.made", 0, thread="C-soon", due_at=now + timedelta(hours=1))
    stored_event(client, "commitment.made", 0, thread="C-none")
    stored_event(client, "commitment.made", 0, thread="C-kept", due_at=now)
    stored_event(client, "commitment.done", 3, thread="C-kept")

    def keys(state):
        return [entity.key for entity in commitments(session, client.id, state, now)]

    assert keys("open") == ["C-late", "C-soon", "C-none"]
    assert keys("overdue") == ["C-late"]
    assert keys("done") == ["C-kept"]
    with pytest.raises(ValueError):
        keys("someday")
