"""Don't get ambushed: each flag on small hand-built frames, explained.

Which threads are flagged, as what and how severely is crm.flags' (its own
tests: tests/test_flag_rules.py); these check what the briefing says of them."""

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reports.briefing.flags import (
    PROBLEM_TICKET,
    aging_bucket,
    aging_summary,
    find_flags,
    recurring_alert_flags,
    snapshot_flags,
)
from reports.briefing.snapshot import Scope, Snapshot
from tests.factories import entities_frame, events_frame

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=60)


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def snapshot(events=(), entities=(), **scope) -> Snapshot:
    scope = {"as_of": NOW, "period_start": START} | scope
    return Snapshot.take(events_frame(*events), entities_frame(*entities), Scope(**scope))


def ticket(key, opened, **fields) -> dict:
    return {"type": "ticket", "key": key, "title": f"Ticket {key}", "opened_at": opened} | fields


def of(types: str, s: Snapshot) -> list:
    """The snapshot's flags on threads of these types (space-separated)."""
    return [flag for flag in snapshot_flags(s) if flag.thread_type in types.split()]


ticket_flags = functools.partial(of, "ticket")
dispute_flags = functools.partial(of, "dispute")
invoice_flags = functools.partial(of, "invoice")
commitment_flags = functools.partial(of, "commitment")


def critical_alert_flags(s: Snapshot) -> list:
    return [flag for flag in snapshot_flags(s) if flag.kind == "critical_alert"]


# --- tickets -------------------------------------------------------------------------


def test_a_ticket_open_too_long_and_past_its_sla_is_one_late_ticket_as_severe_as_the_worse():
    events = [
        {"kind": "ticket.opened", "occurred_at": ago(45), "thread_key": "T1"},
        {"kind": "ticket.updated", "occurred_at": ago(44), "thread_key": "T1"},
        {"kind": "ticket.opened", "occurred_at": ago(10), "thread_key": "T2"},
    ]
    entities = [
        ticket(
            "T1",
            ago(45),
            title="Replace the ageing NAS",
            status="pending",
            priority="normal",
            sla_due_at=ago(44),
            assignee="Carla Mendes",
        ),
        ticket("T2", ago(10), priority="normal"),  # young, no SLA: nothing to say
    ]
    s = snapshot(events, entities)

    [flag] = ticket_flags(s)

    # 44 days past its SLA: high, and a step up for more than 30 days late
    assert (flag.kind, flag.severity, flag.title) == (
        "late_ticket",
        "critical",
        "Replace the ageing NAS",
    )
    assert flag.facets == ["past_sla", "open_too_long"]
    assert flag.since == ago(45) and flag.age_days == 45 and flag.owner == "Carla Mendes"
    assert "Open 45 days" in flag.detail and "past its SLA by 6 weeks" in flag.detail
    assert (flag.thread_type, flag.thread_key) == ("ticket", "T1")
    assert flag.event_ids == [int(i) for i in s.events["id"][:2]]


def test_the_stale_threshold_is_a_setting_and_high_priority_makes_it_high():
    entities = [ticket("T1", ago(40), priority="urgent")]

    [stale] = ticket_flags(snapshot(entities=entities, stale_days=30))

    assert (stale.kind, stale.facets, stale.severity) == ("late_ticket", ["open_too_long"], "high")
    assert ticket_flags(snapshot(entities=entities, stale_days=50)) == []


def test_a_ticket_open_past_its_sla_is_a_breach_critical_when_urgent():
    entities = [
        ticket("U", ago(hours=6), priority="urgent", sla_due_at=ago(hours=2)),
        ticket("H", ago(2), priority="high", sla_due_at=ago(1)),
        ticket("OK", ago(hours=1), priority="high", sla_due_at=ago(hours=-7)),
    ]

    flags = {f.thread_key: f for f in ticket_flags(snapshot(entities=entities))}

    assert set(flags) == {"U", "H"}
    assert (flags["U"].kind, flags["U"].severity) == ("late_ticket", "critical")
    assert flags["U"].facets == ["past_sla"]
    assert "SLA ran out 2 h ago" in flags["U"].detail
    assert flags["H"].severity == "high"


def test_a_ticket_38_days_past_its_sla_ranks_above_a_password_reset_late_by_a_day():
    entities = [
        ticket("reset", ago(1, hours=2), title="Password reset", sla_due_at=ago(1)),
        ticket("vpn", ago(40), title="VPN drops", sla_due_at=ago(38)),
    ]

    flags = ticket_flags(snapshot(entities=entities))

    assert [(f.thread_key, f.severity) for f in flags] == [("vpn", "critical"), ("reset", "high")]


def test_a_ticket_solved_late_in_the_period_is_a_low_breach_and_one_before_it_is_not():
    entities = [
        ticket("LATE", ago(20), sla_due_at=ago(19), closed_at=ago(16), status="resolved"),
        ticket("BEFORE", ago(90), sla_due_at=ago(89), closed_at=ago(80), status="resolved"),
        ticket("ONTIME", ago(20), sla_due_at=ago(19), closed_at=ago(19.5), status="resolved"),
    ]

    [flag] = ticket_flags(snapshot(entities=entities))

    assert (flag.thread_key, flag.kind, flag.severity, flag.settled) == (
        "LATE",
        "late_ticket",
        "low",
        True,
    )
    assert "3 days after its SLA" in flag.detail


# --- disputes ------------------------------------------------------------------------


def test_an_open_dispute_gives_amount_reason_and_evidence_deadline_from_its_events():
    # The generic format keeps reason and deadline (a day) in the attributes.
    events = [
        {
            "kind": "dispute.opened",
            "occurred_at": ago(4),
            "thread_key": "dp_1",
            "amount": Decimal("837.00"),
            "currency": "EUR",
            "attributes": {"reason": "product_not_received", "evidence_due_by": "2026-03-20"},
        }
    ]
    entities = [
        {
            "type": "dispute",
            "key": "dp_1",
            "title": "Chargeback: product not received",
            "status": "needs_response",
            "opened_at": ago(4),
            "amount": Decimal("837.00"),
            "currency": "EUR",
        },
        {"type": "dispute", "key": "dp_old", "opened_at": ago(50), "closed_at": ago(30)},
    ]
    s = snapshot(events, entities, zone=ZoneInfo("Europe/Lisbon"))

    [flag] = dispute_flags(s)

    assert (flag.kind, flag.severity) == ("open_dispute", "critical")
    assert (flag.amount, flag.currency) == (Decimal("837.00"), "EUR")
    assert flag.due_at == datetime(2026, 3, 20, 23, 59, 59, tzinfo=UTC)
    assert "EUR 837.00 disputed on 6 Mar" in flag.detail
    assert "reason: product not received" in flag.detail
    assert "evidence due 20 Mar (in 10 days)" in flag.detail
    assert flag.event_ids == [int(s.events["id"][0])]


def test_a_stripe_dispute_keeps_its_deadline_on_the_thread_and_a_passed_one_is_said():
    entities = [
        {
            "type": "dispute",
            "key": "dp_2",
            "status": "warning_needs_response",
            "opened_at": ago(20),
            "due_at": ago(2),
            "category": "fraudulent",
            "amount": Decimal("10"),
            "currency": "USD",
        }
    ]

    [flag] = dispute_flags(snapshot(entities=entities))

    assert "reason: fraudulent" in flag.detail
    assert "the evidence was due 8 Mar" in flag.detail


# --- invoices ------------------------------------------------------------------------


def _invoice(key, opened, due, **fields) -> dict:
    return {
        "type": "invoice",
        "key": key,
        "title": f"Invoice {key}",
        "opened_at": opened,
        "due_at": due,
        "amount": Decimal("100"),
        "currency": "EUR",
    } | fields


def test_an_unpaid_invoice_whose_payment_failed_is_a_failed_payment_before_it_is_due():
    events = [
        {"kind": "invoice.issued", "occurred_at": ago(10), "thread_key": "in_1"},
        {
            "kind": "payment.failed",
            "occurred_at": ago(5),
            "thread_key": "in_1",
            "attributes": {"failure_reason": "insufficient_funds"},
        },
        {
            "kind": "payment.failed",
            "occurred_at": ago(2),
            "thread_key": "in_1",
            "attributes": {"failure_code": "card_declined"},
        },
    ]
    s = snapshot(events, [_invoice("in_1", ago(10), ago(-20), status="failed")])

    [flag] = invoice_flags(s)

    assert (flag.kind, flag.severity) == ("failed_payment", "high")
    assert flag.detail == (
        "2 payment attempts failed, the last on 8 Mar (card declined); "
        "EUR 100.00 unpaid, due 30 Mar."
    )
    assert flag.event_ids == [int(i) for i in s.events["id"][1:]]


def test_a_payment_that_failed_in_the_period_on_an_invoice_paid_since_is_a_low_flag():
    events = [
        {"kind": "payment.failed", "occurred_at": ago(20), "thread_key": "in_1"},
        {"kind": "payment.received", "occurred_at": ago(15), "thread_key": "in_1"},
        {"kind": "payment.failed", "occurred_at": ago(80), "thread_key": "in_old"},
        {"kind": "payment.received", "occurred_at": ago(75), "thread_key": "in_old"},
    ]
    entities = [
        _invoice("in_1", ago(25), ago(-5), status="paid", closed_at=ago(15)),
        _invoice("in_old", ago(85), ago(55), status="paid", closed_at=ago(75)),
    ]

    [flag] = invoice_flags(snapshot(events, entities))

    assert (flag.thread_key, flag.kind, flag.severity, flag.settled) == (
        "in_1",
        "failed_payment",
        "low",
        True,
    )
    assert "paid on 23 Feb" in flag.detail


def test_a_failed_payment_on_an_overdue_invoice_is_one_flag_that_says_both():
    events = [
        {"kind": "invoice.issued", "occurred_at": ago(40), "thread_key": "in_1"},
        {"kind": "payment.failed", "occurred_at": ago(12), "thread_key": "in_1",
         "attributes": {"failure_code": "card_declined"}},
        {"kind": "payment.failed", "occurred_at": ago(5), "thread_key": "in_1"},
    ]  # fmt: skip
    invoice = _invoice("in_1", ago(40), ago(10), status="failed", last_event_at=ago(5))
    s = snapshot(events, [invoice])

    [flag] = invoice_flags(s)

    assert (flag.kind, flag.facets) == ("overdue_invoice", ["overdue", "payment_failed"])
    # 10 days overdue is medium; a failed payment high: the worse counts
    assert (flag.severity, flag.aging_bucket, flag.age_days) == ("high", "1-30", 10)
    assert flag.detail == (
        "EUR 100.00 was due 28 Feb: 10 days overdue (1-30 days); "
        "2 payment attempts failed, the last on 5 Mar."
    )
    assert [bucket.count for bucket in aging_summary([flag])] == [1, 0, 0, 0]


@pytest.mark.parametrize(
    "days, bucket",
    [(1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (91, "90+")],
)
def test_aging_buckets_by_days_overdue(days, bucket):
    assert aging_bucket(days) == bucket


def test_overdue_invoices_fall_in_aging_buckets_whose_totals_stay_per_currency():
    entities = [
        _invoice("a", ago(40), ago(5)),
        _invoice("b", ago(70), ago(40), amount=Decimal("250.50")),
        _invoice("c", ago(75), ago(45), currency="USD"),
        _invoice("d", ago(100), ago(70)),
        _invoice("e", ago(150), ago(120)),
        _invoice("paid", ago(150), ago(120), status="paid", closed_at=ago(119)),
        _invoice("not-due", ago(3), ago(-27)),
    ]

    flags = {f.thread_key: f for f in invoice_flags(snapshot(entities=entities))}
    summary = {bucket.label: bucket for bucket in aging_summary(list(flags.values()))}

    assert set(flags) == {"a", "b", "c", "d", "e"}
    assert {k: (f.aging_bucket, f.severity) for k, f in flags.items()} == {
        "a": ("1-30", "medium"),
        "b": ("31-60", "high"),
        "c": ("31-60", "high"),
        "d": ("61-90", "high"),
        "e": ("90+", "critical"),
    }
    assert flags["b"].detail == "EUR 250.50 was due 29 Jan: 40 days overdue (31-60 days)."
    assert summary["31-60"].count == 2
    assert [(t.currency, t.amount) for t in summary["31-60"].totals] == [
        ("EUR", Decimal("250.50")),
        ("USD", Decimal("100")),
    ]
    assert [bucket.count for bucket in summary.values()] == [1, 2, 1, 1]


# --- alerts --------------------------------------------------------------------------


def test_open_alerts_whose_priority_is_critical_are_critical_alerts():
    # The severity is the thread's priority (Alertmanager's severity label, the
    # generic format's priority); an event attribute `severity` is not read.
    events = [
        {
            "kind": "alert.raised",
            "occurred_at": ago(hours=19),
            "thread_key": "generic",
            "title": "HostUnreachable on ACME-NAS01",
            "attributes": {"instance": "ACME-NAS01"},
        },
        {
            "kind": "alert.raised",
            "occurred_at": ago(1),
            "thread_key": "attribute",
            "attributes": {"severity": "critical"},
        },
    ]
    entities = [
        {"type": "alert", "key": "generic", "status": "firing", "opened_at": ago(hours=19),
         "title": "HostUnreachable on ACME-NAS01", "priority": "critical"},
        {"type": "alert", "key": "am", "status": "firing", "opened_at": ago(2),
         "priority": "Critical", "title": "Disk failed"},
        {"type": "alert", "key": "attribute", "status": "firing", "opened_at": ago(1)},
        {"type": "alert", "key": "warn", "status": "firing", "opened_at": ago(1),
         "priority": "warning"},
        {"type": "alert", "key": "gone", "status": "resolved", "opened_at": ago(3),
         "closed_at": ago(2.9), "priority": "critical"},
    ]  # fmt: skip

    flags = {f.thread_key: f for f in critical_alert_flags(snapshot(events, entities))}

    assert set(flags) == {"generic", "am"}
    assert flags["generic"].detail == "Firing since 9 Mar (19 h)."  # the title names the host
    assert flags["am"].severity == "critical" and flags["am"].age_days == 2


def _raised(days, device="ACME-NAS01", check="BackupFailed", key=None) -> dict:
    return {
        "kind": "alert.raised",
        "occurred_at": ago(days),
        "thread_key": key or f"fp-{device}-{check}-{days}",
        "attributes": {"instance": device, "alertname": check, "severity": "critical"},
    }


def test_the_same_check_on_the_same_device_three_times_in_30_days_asks_for_a_problem_ticket():
    events = [
        _raised(40),  # too long ago to count
        _raised(27),
        _raised(14),
        _raised(4, key="latest"),
        _raised(3, device="ACME-FS01"),
        _raised(2, device="ACME-FS01"),  # only twice on this device
        _raised(1, device="ACME-FS01", check="HighCPU"),
    ]
    entities = [{"type": "alert", "key": "latest", "opened_at": ago(4), "status": "firing"}]
    s = snapshot(events, entities)

    [flag] = recurring_alert_flags(s)

    assert (flag.kind, flag.severity) == ("recurring_alert", "high")
    assert flag.title == "BackupFailed on ACME-NAS01"
    assert flag.detail == "Fired 3 times in the last 30 days, from 11 Feb to 6 Mar; firing now."
    assert flag.suggestion == PROBLEM_TICKET
    assert (flag.thread_type, flag.thread_key) == ("alert", "latest")
    assert flag.event_ids == [int(i) for i in s.events["id"][1:4]]


def test_two_occurrences_are_not_a_pattern():
    assert not recurring_alert_flags(snapshot([_raised(5), _raised(2)]))


# --- commitments ---------------------------------------------------------------------


def test_an_open_commitment_past_due_is_overdue_and_says_if_it_came_from_the_last_meeting():
    meeting = ago(30)
    entities = [
        {"type": "commitment", "key": "C1", "title": "Send the backup report",
         "opened_at": meeting + timedelta(hours=3), "due_at": ago(3), "assignee": "Ana Lima"},
        {"type": "commitment", "key": "C2", "title": "Quote a second line",
         "opened_at": ago(50), "due_at": ago(10)},
        {"type": "commitment", "key": "kept", "opened_at": ago(30), "due_at": ago(3),
         "status": "done", "closed_at": ago(4)},
        {"type": "commitment", "key": "later", "opened_at": ago(30), "due_at": ago(-3)},
    ]  # fmt: skip

    flags = {
        f.thread_key: f
        for f in commitment_flags(snapshot(entities=entities, last_meeting_at=meeting))
    }

    assert set(flags) == {"C1", "C2"}
    assert flags["C1"].owner == "Ana Lima" and flags["C1"].severity == "high"
    assert flags["C1"].detail == "Promised on 8 Feb at the last meeting, due 7 Mar: 3 days overdue."
    assert "at the last meeting" not in flags["C2"].detail


# --- all together --------------------------------------------------------------------


def test_flags_are_ranked_by_severity_then_age():
    entities = [
        ticket("stale", ago(50)),
        ticket("older", ago(70)),
        {"type": "dispute", "key": "dp", "opened_at": ago(1)},
        {"type": "commitment", "key": "C", "opened_at": ago(9), "due_at": ago(1)},
    ]

    flags = find_flags(events_frame(), entities_frame(*entities), Scope(NOW, START))

    # the dispute is critical; the ticket 40 days past the stale threshold is
    # high, as the promise is, and waited longer; the other ticket is medium
    assert [f.thread_key for f in flags] == ["dp", "older", "C", "stale"]
    assert [f.severity for f in flags] == ["critical", "high", "high", "medium"]


def test_flags_as_of_a_past_moment_see_the_threads_as_they_were_then():
    entities = [
        # open then, solved since: was stale at the time
        ticket("T", ago(80), closed_at=ago(5), status="resolved"),
        # not opened yet then
        ticket("new", ago(3)),
    ]

    flags = find_flags(events_frame(), entities_frame(*entities), Scope(ago(20), ago(40)))

    assert [(f.thread_key, f.kind, f.age_days) for f in flags] == [("T", "late_ticket", 60)]


def test_empty_frames_flag_nothing():
    assert find_flags(events_frame(), entities_frame(), Scope(NOW, START)) == []
