"""The pre-contact card lists exactly what is open now and what was done lately."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event as sa_event

from crm import config
from crm.extensions import db
from crm.timeline.hours import BadBusinessHours, BusinessHours
from crm.timeline.precontact import precontact_card
from tests.factories import make_client, stored_event

# A Tuesday, 14:00 in Berlin (CET, UTC+1).
NOW = datetime(2026, 11, 3, 13, 0, tzinfo=UTC)
HOURS = BusinessHours.parse("Mon-Fri 09:00-17:30")
GUIDANCE = config.TIER_GUIDANCE


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def ahead(**delta) -> datetime:
    return NOW + timedelta(**delta)


def card_of(client, now=NOW, hours=HOURS):
    return precontact_card(db.session, client, now, guidance=GUIDANCE, hours=hours)


def keys(items):
    return [item.key for item in items]


@pytest.fixture
def busy(session):
    """A problem client with one of everything, open and closed."""
    client = make_client(
        "busy-gmbh",
        tier="problem",
        timezone="Europe/Berlin",
        language="de",
        account_manager="Sofia Braun",
        emails=["anna@busy.example", "lukas@busy.example"],
    )
    add = stored_event
    # Tickets: past SLA, within SLA, without SLA, and one solved lately.
    add(
        client,
        "ticket.opened",
        ago(days=5),
        thread="T-late",
        title="VPN drops",
        sla_due_at=ago(days=4),
        priority="high",
    )
    add(
        client,
        "ticket.opened",
        ago(hours=2),
        thread="T-due",
        title="Printer offline",
        sla_due_at=ahead(hours=6),
    )
    add(client, "ticket.opened", ago(days=1), thread="T-nosla", title="Question")
    add(
        client,
        "ticket.opened",
        ago(days=6),
        thread="T-done",
        title="Set up a wireless access point",
        assignee="Carla",
    )
    add(
        client,
        "ticket.resolved",
        datetime(2026, 11, 2, 23, 30, tzinfo=UTC),
        thread="T-done",
        actor="Bob",
    )  # 3 Nov already in Berlin
    add(client, "ticket.opened", ago(days=30), thread="T-old", title="Solved long ago")
    add(client, "ticket.resolved", ago(days=20), thread="T-old", actor="Bob")
    # Disputes: one open, one settled.
    add(
        client,
        "dispute.opened",
        ago(days=2),
        thread="DP-open",
        status="needs_response",
        amount=Decimal("90"),
        currency="EUR",
    )
    add(client, "dispute.opened", ago(days=90), thread="DP-won", status="needs_response")
    add(client, "dispute.closed", ago(days=80), thread="DP-won", status="won")
    # Invoices: paid, failed within terms, overdue, overdue after a failure, void.
    for key, due in (
        ("INV-paid", ago(days=3)),
        ("INV-failed", ahead(days=10)),
        ("INV-over", ago(days=2)),
        ("INV-over-failed", ago(days=9)),
        ("INV-void", ago(days=9)),
    ):
        add(
            client,
            "invoice.issued",
            ago(days=40),
            thread=key,
            title=f"Invoice {key}",
            amount=Decimal("100.50"),
            currency="EUR",
            due_at=due,
        )
    add(
        client,
        "payment.received",
        ago(days=4),
        thread="INV-paid",
        amount=Decimal("100.50"),
        currency="EUR",
    )
    add(client, "payment.failed", ago(days=1), thread="INV-failed")
    add(client, "payment.failed", ago(days=8), thread="INV-over-failed")
    add(client, "invoice.voided", ago(days=8), thread="INV-void")
    # Alerts: one firing, one cleared.
    add(client, "alert.raised", ago(hours=3), thread="A-firing", title="Backup failed")
    add(client, "alert.raised", ago(hours=9), thread="A-clear", title="Disk full")
    add(client, "alert.resolved", ago(hours=8), thread="A-clear")
    # Sales: an open quote, a deal won lately, renewals near, far, past and done.
    add(
        client,
        "quote.sent",
        ago(days=8),
        thread="OPP-open",
        title="Quote: firewall",
        amount=Decimal("5000"),
        currency="EUR",
    )
    add(client, "quote.sent", ago(days=20), thread="OPP-won", title="Quote: laptops")
    add(client, "deal.won", ago(days=2), thread="OPP-won", actor="Sofia Braun")
    add(
        client,
        "renewal.due",
        ago(days=10),
        thread="REN-near",
        title="Contract",
        due_at=ahead(days=30),
    )
    add(
        client,
        "renewal.due",
        ago(days=10),
        thread="REN-edge",
        title="Contract",
        due_at=ahead(days=90),
    )
    add(
        client,
        "renewal.due",
        ago(days=10),
        thread="REN-far",
        title="Contract",
        due_at=ahead(days=91),
    )
    add(
        client, "renewal.due", ago(days=40), thread="REN-past", title="Contract", due_at=ago(days=1)
    )
    add(
        client,
        "renewal.due",
        ago(days=40),
        thread="REN-done",
        title="Contract",
        due_at=ahead(days=5),
    )
    add(client, "renewal.renewed", ago(days=20), thread="REN-done")
    # Campaigns: one within 14 days (with reactions), one older (its late open
    # does not bring it back), one to another client.
    for email in ("anna@busy.example", "lukas@busy.example"):
        add(
            client,
            "campaign.sent",
            ago(days=3),
            title="Phishing season",
            attributes={"campaign": "NL-7", "email": email},
        )
    add(
        client,
        "email.opened",
        ago(days=2),
        title="Phishing season",
        attributes={"campaign": "NL-7"},
    )
    add(client, "campaign.sent", ago(days=20), thread="NL-6", title="Old news")
    add(client, "email.opened", ago(days=1), thread="NL-6", title="Old news")
    add(make_client(), "campaign.sent", ago(days=1), thread="NL-7", title="Someone else's")
    # Commitments: overdue, due, kept lately.
    add(
        client,
        "commitment.made",
        ago(days=3),
        thread="C-late",
        title="Send the report",
        due_at=ago(hours=1),
        assignee="Sofia Braun",
    )
    add(
        client,
        "commitment.made",
        ago(hours=1),
        thread="C-soon",
        title="Call back",
        due_at=ahead(hours=2),
        assignee="Sofia Braun",
    )
    add(client, "commitment.made", ago(days=9), thread="C-kept", title="Quote a second line")
    add(client, "commitment.done", ago(days=1), thread="C-kept", actor="Sofia Braun")
    return client  # fmt: skip


def test_right_now_lists_exactly_the_open_items(busy):
    card = card_of(busy)
    assert keys(card.open_tickets) == ["T-late", "T-nosla", "T-due"]  # oldest first
    assert [item.deadline.state for item in card.open_tickets] == ["breached", "none", "due"]
    assert card.open_tickets[0].age == timedelta(days=5)
    assert keys(card.open_disputes) == ["DP-open"]
    assert keys(card.failed_payments) == ["INV-failed"]
    assert keys(card.overdue_invoices) == ["INV-over-failed", "INV-over"]
    assert card.overdue_totals == {"EUR": Decimal("201.00")}
    assert keys(card.active_alerts) == ["A-firing"]
    assert keys(card.open_quotes) == ["OPP-open"]
    assert keys(card.renewals) == ["REN-past", "REN-near", "REN-edge"]
    assert [item.deadline.state for item in card.renewals] == ["overdue", "due", "due"]
    assert keys(card.commitments) == ["C-late", "C-soon"]
    assert [item.deadline.state for item in card.commitments] == ["overdue", "due"]


def test_campaigns_of_the_last_14_days_with_reactions(busy):
    (campaign,) = card_of(busy).campaigns
    assert (campaign.key, campaign.title, campaign.recipients) == ("NL-7", "Phishing season", 2)
    assert campaign.sent_at == ago(days=3)
    assert campaign.reactions == {"email.opened": 1}


def test_lately_says_what_was_done_when_and_by_whom(busy):
    lately = card_of(busy).lately
    assert [done.text for done in lately] == [
        "Set up a wireless access point, closed 3 Nov by Bob",
        "Quote a second line, done 2 Nov by Sofia Braun",
        "Quote: laptops, won 1 Nov by Sofia Braun",
    ]


def test_flags_name_what_needs_attention_most_severe_first(busy):
    # The dispute is critical; the rest are high: the ticket past its SLA,
    # the failed payment, the commitment, and the invoice overdue after its
    # payment failed (the other overdue invoice is medium). The firing alert
    # is no critical one.
    assert card_of(busy).flags == [
        "1 open dispute",
        "1 failed payment",
        "2 overdue invoices",
        "1 late ticket",
        "1 overdue commitment",
    ]


def test_a_failed_payment_on_an_overdue_invoice_is_one_flag(busy):
    card = card_of(busy)
    [over_failed] = [item for item in card.overdue_invoices if item.key == "INV-over-failed"]
    assert over_failed.flag.kind == "overdue_invoice"
    assert over_failed.flag.facets == ("overdue", "payment_failed")
    assert over_failed.flag.severity == "high"  # a failed payment is high; 9 days overdue medium
    assert over_failed.flag.since == ago(days=9)  # its due date
    assert "INV-over-failed" not in keys(card.failed_payments)
    assert [flag.kind for flag in card.flagged].count("overdue_invoice") == 2


def test_a_ticket_open_too_long_a_critical_alert_and_a_check_that_keeps_failing(session):
    client = make_client()
    stored_event(client, "ticket.opened", ago(days=31), thread="T-old", title="Slow laptop")
    stored_event(client, "ticket.opened", ago(days=29), thread="T-young")
    stored_event(client, "alert.raised", ago(hours=5), thread="A-crit", priority="CRITICAL")
    for n, days in enumerate((29, 12, 2)):
        device = {"instance": "NAS01", "alertname": "BackupFailed"}
        stored_event(client, "alert.raised", ago(days=days), thread=f"fp-{n}", attributes=device)
        stored_event(client, "alert.resolved", ago(days=days, hours=-1), thread=f"fp-{n}")

    card = card_of(client)

    [old, young] = card.open_tickets
    assert (old.flag.kind, old.flag.facets, old.flag.severity) == (
        "late_ticket",
        ("open_too_long",),
        "medium",
    )
    assert young.flag is None
    assert card.active_alerts[0].flag.kind == "critical_alert"
    [recurring] = card.recurring_alerts
    assert (recurring.title, recurring.times, recurring.last_thread_key) == (
        "BackupFailed on NAS01",
        3,
        "fp-2",
    )
    assert card.flags == ["1 critical alert", "1 recurring alert", "1 late ticket"]


def test_what_lies_ahead_is_on_the_card_whenever_its_thread_opened(session):
    client = make_client()
    # Records that date a renewal at its renewal day and a quote at its close
    # date (an export without created dates): their threads open in the future.
    for key, days in (("REN-60", 60), ("REN-95", 95)):
        stored_event(client, "renewal.due", ahead(days=days), thread=key, due_at=ahead(days=days))
    stored_event(client, "quote.sent", ahead(days=7), thread="Q-7", title="Quote: firewall")

    card = card_of(client)

    assert keys(card.renewals) == ["REN-60"]
    assert keys(card.open_quotes) == ["Q-7"]
    assert card.flags == []


def test_who_they_are_and_their_local_time(busy):
    card = card_of(busy)
    assert card.guidance == GUIDANCE["problem"]
    assert card.local_now.strftime("%a %H:%M %Z") == "Tue 14:00 CET"
    assert card.in_business_hours
    assert [contact.email for contact in card.contacts] == [
        "anna@busy.example",
        "lukas@busy.example",
    ]
    assert card.more_contacts == 0


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        (datetime(2026, 11, 3, 7, 59, tzinfo=UTC), False),  # 08:59 in Berlin
        (datetime(2026, 11, 3, 8, 0, tzinfo=UTC), True),  # 09:00
        (datetime(2026, 11, 3, 16, 29, tzinfo=UTC), True),  # 17:29
        (datetime(2026, 11, 3, 16, 30, tzinfo=UTC), False),  # 17:30, closed
        (datetime(2026, 11, 7, 12, 0, tzinfo=UTC), False),  # a Saturday
    ],
)
def test_business_hours_are_the_clients_own(session, now, open_):
    client = make_client(timezone="Europe/Berlin")
    assert card_of(client, now).in_business_hours is open_


def test_business_hours_with_several_rules():
    hours = BusinessHours.parse("Mon-Thu 08:00-17:00; Fri 08:00-13:00")
    tokyo = ZoneInfo("Asia/Tokyo")
    friday_afternoon = datetime(2026, 11, 6, 5, 0, tzinfo=UTC)  # 14:00 in Tokyo
    assert not hours.is_open(friday_afternoon, tokyo)
    assert hours.is_open(friday_afternoon - timedelta(hours=2), tokyo)


@pytest.mark.parametrize(
    "text",
    [
        "Mon-Fri",
        "Mon-Fri 9-17",
        "Funday 09:00-17:00",
        "Fri-Mon 09:00-17:00",
        "Mon 18:00-09:00",
        "Mon 25:00-26:00",
    ],
)
def test_unreadable_business_hours_say_why(text):
    with pytest.raises(BadBusinessHours, match="business hours"):
        BusinessHours.parse(text)


def test_guidance_and_hours_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TOUCHLINE_TIER_GUIDANCE_KEY", "Call their CEO back within the hour.")
    monkeypatch.setenv("TOUCHLINE_BUSINESS_HOURS", "Mon-Sat 08:00-20:00")
    settings = config.from_environment(str(tmp_path))
    assert settings["TIER_GUIDANCE"]["key"] == "Call their CEO back within the hour."
    assert settings["TIER_GUIDANCE"]["new"] == config.TIER_GUIDANCE["new"]
    assert settings["BUSINESS_HOURS"] == "Mon-Sat 08:00-20:00"


def test_an_empty_client_has_an_empty_card(session):
    card = card_of(make_client(tier="new"))
    assert card.guidance == GUIDANCE["new"]
    assert not (card.open_tickets or card.commitments or card.campaigns or card.lately)
    assert card.flags == []


def count_statements(callback) -> int:
    statements = []

    def count(*args):
        statements.append(args[2])

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        callback()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_the_card_costs_the_same_queries_whatever_the_history(session):
    small, large = make_client(), make_client()
    for client, threads in ((small, 1), (large, 12)):
        for n in range(threads):
            stored_event(
                client, "ticket.opened", ago(days=2), thread=f"T{n}", sla_due_at=ago(days=1)
            )
            stored_event(
                client, "commitment.made", ago(days=2), thread=f"C{n}", due_at=ahead(days=1)
            )
            stored_event(client, "campaign.sent", ago(days=2), thread=f"NL{n}")
            stored_event(client, "ticket.opened", ago(days=9), thread=f"D{n}")
            stored_event(client, "ticket.resolved", ago(days=1), thread=f"D{n}", actor="Bob")
    db.session.expire_all()
    small_cost = count_statements(lambda: card_of(small))
    db.session.expire_all()
    large_cost = count_statements(lambda: card_of(large))
    large_card = card_of(large)
    assert len(large_card.open_tickets) == 10  # the first LIST; the rest are counted
    assert large_card.totals["open_tickets"] == 12
    assert small_cost == large_cost


def test_lately_names_the_latest_ten_and_counts_the_rest(session):
    client = make_client()
    for n in range(12):
        stored_event(client, "ticket.opened", ago(days=5), thread=f"T{n}", title=f"Job {n}")
        stored_event(client, "ticket.resolved", ago(hours=12 - n), thread=f"T{n}", actor="Bob")
    card = card_of(client)
    assert [done.key for done in card.lately] == [f"T{n}" for n in range(11, 1, -1)]
    assert card.lately_total == 12
