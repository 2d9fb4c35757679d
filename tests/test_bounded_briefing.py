"""A briefing stays a briefing whatever the client holds: each list shows its
first few with "and N more" linking to the full list, critical alerts of one
check on one device are one line, and the health, severity counts and aging
still weigh every flag (issue 19, bounded at any size)."""

import re
from datetime import timedelta

import pytest

from crm.models.types import utcnow
from reports.briefing.bounds import SHOWN_FLAGS, SHOWN_POINTS
from reports.briefing.build import build_briefing
from reports.briefing.render import briefing_html
from reports.briefing.talking_points import CAMPAIGN_IDS
from tests.factories import make_client, stored_event
from tests.helpers import briefing_parts

SOLVED = 35
LATE = 30
ALERTS = 24  # critical, on 2 checks x 2 devices
RECURRING = 4  # each check fires 6 times on its device: 4 recurring alerts
FLAGS = LATE + ALERTS + RECURRING


@pytest.fixture
def busy(session):
    client = make_client("busy-bv", tier="key", timezone="Europe/Amsterdam")
    now = utcnow()
    for n in range(SOLVED):
        stored_event(client, "ticket.opened", now - timedelta(days=20), thread=f"S{n}")
        stored_event(
            client,
            "ticket.resolved",
            now - timedelta(days=10, hours=n),
            thread=f"S{n}",
            title=f"Install printer {n}",
            actor="Bob",
        )
    for n in range(LATE):
        stored_event(
            client,
            "ticket.opened",
            now - timedelta(days=5, hours=n),
            thread=f"L{n}",
            title=f"Late {n}",
            sla_due_at=now - timedelta(days=4),
        )
    for n in range(ALERTS):
        check, device = ("DiskFull", "CPUHigh")[n % 2], f"host-{n // 2 % 2}"
        stored_event(
            client,
            "alert.raised",
            now - timedelta(hours=2 + n),
            thread=f"A{n}",
            title=f"{check} on {device}",
            priority="critical",
            attributes={"instance": device, "alertname": check},
        )
    return client


def test_the_lists_are_cut_and_say_how_many_more(session, busy):
    briefing = build_briefing(session, busy)
    points = briefing.talking_points
    assert len(points.work_done) == SHOWN_POINTS
    assert points.totals["work_done"] == SOLVED
    assert points.more_urls["work_done"] == "/clients/busy-bv/threads?state=closed&type=ticket"
    assert len(briefing.flags) == SHOWN_FLAGS
    assert briefing.flag_total == FLAGS  # every thread's flag is counted
    assert briefing.severity_counts == {
        "critical": ALERTS,
        "high": LATE + RECURRING,
        "medium": 0,
        "low": 0,
    }
    # 4 grouped alert lines + 4 recurring + 30 late tickets = 38 lines, 20 shown
    assert briefing.more_flags == 4 + RECURRING + LATE - SHOWN_FLAGS
    assert sum(driver.count for driver in briefing.health.drivers) == FLAGS


def test_critical_alerts_are_grouped_by_check_and_device(session, busy):
    flags = build_briefing(session, busy).flags
    alerts = [flag for flag in flags if flag.kind == "critical_alert"]
    assert sorted((flag.title, flag.device, flag.count) for flag in alerts) == [
        ("CPUHigh on host-0", "host-0", 6),
        ("CPUHigh on host-1", "host-1", 6),
        ("DiskFull on host-0", "host-0", 6),
        ("DiskFull on host-1", "host-1", 6),
    ]


def test_the_page_and_the_pdf_source_show_the_bounded_briefing(client, session, busy):
    page = client.get("/clients/busy-bv/briefing")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"{FLAGS} flags, most severe first" in html
    assert "And 18 more" in html and 'href="/clients/busy-bv/threads"' in html
    assert "and 25 more" in html
    assert "Critical alert ×6" in html
    assert len(re.findall(r"/threads/ticket/S\d+", html)) == SHOWN_POINTS
    # the PDF's source without the app's address names the rest without a link
    source = briefing_html(build_briefing(session, busy), for_pdf=True)
    assert "And 18 more, on the client's page in Touchline" in source


def test_the_api_says_what_was_cut(client, busy):
    body = client.get("/api/v1/clients/busy-bv/briefing").get_json()
    assert len(body["flags"]) == SHOWN_FLAGS and body["flag_total"] == FLAGS
    assert body["talking_points"]["totals"]["work_done"] == SOLVED
    assert len(body["talking_points"]["work_done"]) == SHOWN_POINTS


def test_the_counted_briefing_is_the_whole_one(session, busy):
    """The counts from the database and the threads read for the lines shown
    (reports.briefing.census, .shown) give the briefing the whole frames give."""
    now = utcnow()
    counted = build_briefing(session, busy, now=now)
    whole = build_briefing(session, busy, now=now, whole=True)
    assert briefing_parts(counted) == briefing_parts(whole)

    # the health drivers' events are those of the flags explained, not every flag's
    def ids(briefing):
        return [i for driver in briefing.health.drivers for i in driver.event_ids]

    late = {i for flag in whole.flags if flag.kind == "late_ticket" for i in flag.event_ids}
    assert set(ids(counted)) >= late and len(ids(counted)) < len(ids(whole))


@pytest.mark.parametrize("cleared", [4, 5])
def test_the_median_time_to_resolve_counted_by_the_database(session, cleared):
    """On PostgreSQL the database hands over only the middle one or two times
    (reports.briefing.counted); an even count takes the mean of the middle two,
    and an alert cleared without a raise on record is not timed."""
    client = make_client(f"alerts-{cleared}")
    now = utcnow()
    for n in range(cleared):
        raised = now - timedelta(days=10 + n)
        stored_event(client, "alert.raised", raised, thread=f"A{n}")
        stored_event(client, "alert.resolved", raised + timedelta(hours=n + 1), thread=f"A{n}")
    stored_event(client, "alert.resolved", now - timedelta(days=2), thread="never-raised")
    counted = build_briefing(session, client, now=now)
    whole = build_briefing(session, client, now=now, whole=True)
    assert counted.numbers == whole.numbers
    hours = timedelta(hours=2.5) if cleared == 4 else timedelta(hours=3)
    assert (counted.numbers.alerts_timed, counted.numbers.median_time_to_resolve) == (
        cleared,
        hours,
    )


def test_campaigns_counted_in_one_statement_are_the_whole_ones(session):
    """More campaigns than are told, one with more events than a point keeps:
    the newest told with their first events and how many there are, as the
    whole frames tell them (reports.briefing.counted.campaigns)."""
    client = make_client("newsletters")
    now = utcnow()
    for n in range(SHOWN_POINTS + 3):
        sent = now - timedelta(days=2 + n)
        stored_event(client, "campaign.sent", sent, thread=f"C{n}", title=f"Issue {n}")
        for reader in range(3 if n else CAMPAIGN_IDS + 5):
            stored_event(client, "email.opened", sent + timedelta(minutes=reader), thread=f"C{n}")
    # one not threaded, told by its subject
    stored_event(client, "email.delivered", now - timedelta(hours=5), title="Unthreaded news")
    counted = build_briefing(session, client, now=now)
    whole = build_briefing(session, client, now=now, whole=True)
    assert counted.talking_points == whole.talking_points
    told = counted.talking_points.campaigns
    assert len(told) == SHOWN_POINTS and counted.talking_points.totals["campaigns"] == 14
    assert max(len(point.event_ids) for point in told) == CAMPAIGN_IDS


def test_flags_now_and_at_the_period_start_counted_in_one_pass(session):
    """Threads whose flags differ at the period's start and now, and what
    each period settled, counted in one pass over the threads and one over
    those closed (reports.briefing.census.flag_counts): the counts the whole
    frames give at both moments."""
    client = make_client("then-and-now", tier="key")
    now = utcnow()
    start = now - timedelta(days=90)  # no meeting: the period is the last 90 days

    def ticket(key, opened, sla, solved=None):
        stored_event(client, "ticket.opened", opened, thread=key, sla_due_at=sla)
        if solved:
            stored_event(client, "ticket.resolved", solved, thread=key)

    def invoice(key, issued, due, paid=None, failed=None):
        stored_event(client, "invoice.issued", issued, thread=key, due_at=due, amount=100)
        if failed:
            stored_event(client, "payment.failed", failed, thread=key)
        if paid:
            stored_event(client, "payment.received", paid, thread=key, amount=100)

    day = timedelta(days=1)
    ticket("late-then-solved-late", start - 20 * day, start - 10 * day, now - 5 * day)
    ticket("late-before-solved-before", start - 80 * day, start - 70 * day, start - 30 * day)
    ticket("late-before-too", start - 50 * day, start - 45 * day, start - 2 * day)
    ticket("late-now", now - 9 * day, now - 3 * day)
    ticket("on-time", now - 2 * day, now + 3 * day, now - day)
    invoice("overdue-then-paid", start - 60 * day, start - 20 * day, paid=now - 10 * day)
    invoice("failed-then-paid", start - 40 * day, start + 30 * day, now - 8 * day, now - 9 * day)
    invoice(
        "failed-before", start - 150 * day, start - 100 * day, start - 60 * day, start - 70 * day
    )
    invoice("overdue-now", now - 70 * day, now - 20 * day)
    counted = build_briefing(session, client, now=now)
    whole = build_briefing(session, client, now=now, whole=True)
    assert briefing_parts(counted) == briefing_parts(whole)
    drivers = [(d.kind, d.count, d.previous_count) for d in counted.health.drivers]
    # (the kind, its count now, at the period's start)
    assert drivers == [("late_ticket", 2, 3), ("overdue_invoice", 1, 1), ("failed_payment", 1, 1)]
    kinds = {flag.kind for flag in counted.flags}
    assert {"late_ticket", "overdue_invoice", "failed_payment"} <= kinds
