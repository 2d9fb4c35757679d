"""The period in numbers, the health score and the charts, on hand-built frames."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from reports.briefing.charts import activity_chart, alerts_chart, axis, tickets_chart
from reports.briefing.model import Flag, MonthActivity, MonthAlerts, MonthTickets
from reports.briefing.numbers import (
    chart_start,
    health,
    monthly_activity,
    monthly_alerts,
    monthly_tickets,
    period_numbers,
)
from tests.factories import events_frame

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=30)
PREVIOUS = START - timedelta(days=30)
SVG = "{http://www.w3.org/2000/svg}"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def flag(kind: str, severity: str, *ids: int) -> Flag:
    return Flag(kind=kind, severity=severity, title="t", detail="d", event_ids=list(ids))


# --- health --------------------------------------------------------------------------


def test_a_clean_account_scores_100_in_both_periods():
    result = health([], [])

    assert (result.score, result.previous_score, result.change, result.drivers) == (100, 100, 0, [])


def test_each_flag_costs_its_severity_and_a_kind_at_most_30():
    flags = [
        flag("open_dispute", "critical", 1),
        flag("overdue_invoice", "high", 2),
        flag("overdue_invoice", "high", 3),
        flag("overdue_invoice", "critical", 4),  # 10 + 10 + 20: capped at 30
        flag("overdue_commitment", "low", 5),
        flag("late_ticket", "medium", 6),
    ]
    previous = [flag("late_ticket", "medium", 7), flag("overdue_commitment", "high", 8)]

    result = health(flags, previous)

    assert result.score == 100 - (20 + 30 + 2 + 5)
    assert result.previous_score == 100 - (5 + 10)
    assert result.change == result.score - result.previous_score
    drivers = {d.kind: d for d in result.drivers}
    assert (drivers["overdue_invoice"].count, drivers["overdue_invoice"].points) == (3, 30)
    assert drivers["overdue_invoice"].event_ids == [2, 3, 4]
    assert drivers["overdue_commitment"].change == 8  # high before, low now: better
    assert drivers["late_ticket"].change == 0
    # biggest movers first
    assert [d.kind for d in result.drivers][:2] == ["overdue_invoice", "open_dispute"]


def test_the_score_never_goes_below_zero():
    kinds = ("open_dispute", "critical_alert", "overdue_invoice", "failed_payment")
    flags = [flag(kind, "critical") for kind in kinds for _ in range(2)]

    assert health(flags, []).score == 0


# --- the period ----------------------------------------------------------------------


def _events():
    return events_frame(
        # the last meeting itself, at the start: not part of the period since it
        {"kind": "meeting", "occurred_at": START},
        {"kind": "ticket.opened", "occurred_at": ago(20), "thread_key": "T1"},
        {"kind": "ticket.resolved", "occurred_at": ago(19), "thread_key": "T1"},
        {"kind": "ticket.opened", "occurred_at": ago(10), "thread_key": "T2"},
        {"kind": "ticket.opened", "occurred_at": ago(40), "thread_key": "T0"},
        {"kind": "invoice.issued", "occurred_at": ago(25), "thread_key": "in_1",
         "amount": Decimal("100.10"), "currency": "EUR"},
        {"kind": "invoice.issued", "occurred_at": ago(24), "thread_key": "in_2",
         "amount": Decimal("50"), "currency": "USD"},
        {"kind": "payment.received", "occurred_at": ago(5), "thread_key": "in_1",
         "amount": Decimal("100.10"), "currency": "EUR"},
        {"kind": "refund.issued", "occurred_at": ago(4), "thread_key": "in_1",
         "amount": Decimal("10.05"), "currency": "EUR"},
        {"kind": "payment.received", "occurred_at": ago(45), "thread_key": "in_0",
         "amount": Decimal("80"), "currency": "EUR"},
        {"kind": "alert.raised", "occurred_at": ago(2), "thread_key": "a"},
        {"kind": "ticket.opened", "occurred_at": NOW + timedelta(hours=1), "thread_key": "T9"},
    )  # fmt: skip


def test_touches_tickets_and_money_in_the_period_and_the_one_before():
    numbers = period_numbers(
        _events(), period_start=START, previous_start=PREVIOUS, as_of=NOW, zone=UTC
    )

    touches = {t.source: (t.count, t.previous) for t in numbers.touches}
    assert touches == {
        "billing": (4, 1),
        "rmm": (1, 0),
        "tickets": (3, 1),
        "marketing": (0, 0),
        "sales": (0, 0),
        "manual": (0, 1),
    }
    assert (numbers.tickets_opened, numbers.tickets_resolved) == (2, 1)
    assert (numbers.previous_tickets_opened, numbers.previous_tickets_resolved) == (1, 0)
    [eur, usd] = numbers.revenue
    assert (eur.currency, eur.invoiced, eur.collected, eur.refunded) == (
        "EUR",
        Decimal("100.10"),
        Decimal("100.10"),
        Decimal("10.05"),
    )
    assert (eur.previous_invoiced, eur.previous_collected) == (0, Decimal("80"))
    assert (usd.currency, usd.invoiced, usd.collected) == ("USD", Decimal("50"), 0)


def test_alerts_count_each_time_they_fired_and_how_long_each_took_to_clear():
    """Alertmanager gives every occurrence a thread; an RMM may reuse one thread
    for a check that fires again. Either way each firing counts once, and
    each clearing is timed from the raise it closed."""
    hour = timedelta(hours=1)
    events = events_frame(
        # one check firing twice, a thread per occurrence
        {"kind": "alert.raised", "occurred_at": ago(20), "thread_key": "fp@1"},
        {"kind": "alert.resolved", "occurred_at": ago(20) + hour / 2, "thread_key": "fp@1"},
        {"kind": "alert.raised", "occurred_at": ago(10), "thread_key": "fp@2"},
        {"kind": "alert.resolved", "occurred_at": ago(10) + 2 * hour, "thread_key": "fp@2"},
        # one check firing twice in one thread
        {"kind": "alert.raised", "occurred_at": ago(8), "thread_key": "disk-C"},
        {"kind": "alert.resolved", "occurred_at": ago(8) + hour, "thread_key": "disk-C"},
        {"kind": "alert.raised", "occurred_at": ago(3), "thread_key": "disk-C"},
        {"kind": "alert.resolved", "occurred_at": ago(3) + 4 * hour, "thread_key": "disk-C"},
        # raised in the previous period, cleared in this one
        {"kind": "alert.raised", "occurred_at": ago(35), "thread_key": "old"},
        {"kind": "alert.resolved", "occurred_at": ago(25), "thread_key": "old"},
        # the previous period's own
        {"kind": "alert.raised", "occurred_at": ago(40), "thread_key": "before"},
        {"kind": "alert.resolved", "occurred_at": ago(39), "thread_key": "before"},
        # firing now
        {"kind": "alert.raised", "occurred_at": ago(1), "thread_key": "now"},
    )

    numbers = period_numbers(
        events, period_start=START, previous_start=PREVIOUS, as_of=NOW, zone=UTC
    )

    assert (numbers.alerts_raised, numbers.alerts_resolved) == (5, 5)
    assert (numbers.previous_alerts_raised, numbers.previous_alerts_resolved) == (2, 1)
    # 30 min, 1 h, 2 h, 4 h and 10 days
    assert (numbers.alerts_timed, numbers.median_time_to_resolve) == (5, 2 * hour)
    march = {m.month: m for m in numbers.alert_trend}[date(2026, 3, 1)]
    assert (march.raised, march.resolved) == (3, 2)  # since 2 March


def test_twelve_months_of_activity_in_the_clients_calendar():
    tokyo = ZoneInfo("Asia/Tokyo")
    events = events_frame(
        # 31 Jan 20:00 UTC is already 1 Feb in Tokyo
        {"kind": "note", "occurred_at": datetime(2026, 1, 31, 20, 0, tzinfo=UTC)},
        {"kind": "alert.raised", "occurred_at": datetime(2026, 3, 1, 0, 0, tzinfo=UTC)},
        {"kind": "ticket.opened", "occurred_at": datetime(2026, 3, 2, tzinfo=UTC)},
        {"kind": "ticket.resolved", "occurred_at": datetime(2026, 3, 3, tzinfo=UTC)},
        {"kind": "ticket.resolved", "occurred_at": datetime(2025, 4, 3, tzinfo=UTC)},
        # before the chart's first month
        {"kind": "ticket.opened", "occurred_at": datetime(2025, 3, 31, tzinfo=UTC)},
    )

    activity = monthly_activity(events, NOW, tokyo)
    tickets = monthly_tickets(events, NOW, tokyo)
    alerts = monthly_alerts(events, NOW, tokyo)

    assert chart_start(NOW, tokyo) == datetime(2025, 4, 1, tzinfo=tokyo)
    assert [m.month for m in activity] == [date(2025 + (3 + i) // 12, (3 + i) % 12 + 1, 1)
                                           for i in range(12)]  # fmt: skip
    by_month = {m.month: m for m in activity}
    assert by_month[date(2026, 2, 1)].by_source["manual"] == 1
    assert by_month[date(2026, 1, 1)].total == 0
    assert by_month[date(2026, 3, 1)].by_source == {
        "billing": 0, "rmm": 1, "tickets": 2, "marketing": 0, "sales": 0, "manual": 0,
    }  # fmt: skip
    assert [(t.opened, t.resolved) for t in tickets if t.opened or t.resolved] == [(0, 1), (1, 1)]
    assert [(a.month, a.raised, a.resolved) for a in alerts if a.raised] == [
        (date(2026, 3, 1), 1, 0)
    ]


# --- charts --------------------------------------------------------------------------


def _months(values):
    return [
        MonthActivity(date(2025, 4 + i, 1) if i < 9 else date(2026, i - 8, 1), dict(value))
        for i, value in enumerate(values)
    ]


def test_the_activity_chart_stacks_sources_and_is_well_formed_svg():
    months = _months([{"billing": 3, "rmm": 2}] + [{}] * 10 + [{"tickets": 7}])

    svg = str(activity_chart(months, "acme"))

    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    tips = [title.text for title in root.iter(f"{SVG}title")]
    assert tips[0] == "Activity per month, by source"
    assert "Apr 2025 · billing: 3" in tips and "Mar 2026 · tickets: 7" in tips
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 3
    description = root.find(f"{SVG}desc").text
    assert description == "12 events in 12 months; busiest month Mar 2026 with 7"


def test_the_alerts_chart_pairs_raised_and_resolved():
    months = [MonthAlerts(date(2026, 2, 1), 0, 0), MonthAlerts(date(2026, 3, 1), 5, 4)]

    root = ET.fromstring(str(alerts_chart(months, "acme")))

    tips = [title.text for title in root.iter(f"{SVG}title")]
    assert tips == [
        "Alerts raised and resolved per month",
        "Mar 2026: 5 raised",
        "Mar 2026: 4 resolved",
    ]
    assert root.find(f"{SVG}desc").text == "5 alerts raised and 4 resolved in 2 months"
    assert "No alerts" in str(alerts_chart([MonthAlerts(date(2026, 3, 1), 0, 0)]))


def test_chart_text_is_escaped():
    months = [MonthTickets(date(2026, 3, 1), 1, 0)]

    svg = str(tickets_chart(months, 'x"><script>alert(1)</script>'))

    assert "<script>" not in svg
    ET.fromstring(svg)  # still well-formed


def test_an_empty_chart_says_so():
    svg = str(tickets_chart([MonthTickets(date(2026, 3, 1), 0, 0)]))

    assert "No tickets in these twelve months" in svg


def test_the_value_axis_uses_round_steps():
    assert axis(0) == (4, 1)
    assert axis(22) == (25, 5)
    assert axis(64) == (80, 20)
    assert axis(1001) == (1500, 500)
