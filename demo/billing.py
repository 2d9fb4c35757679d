"""A year of invoices and payments, with the money trouble a briefing flags.

Most clients pay within the month. `problem` clients pay late after failed
charges, and their last two invoices are overdue; now and then a standard
client forgets one invoice. Exactly two disputes are open and need a
response; one older dispute was won. Everything is addressed by account code.
"""

import random

from demo.roster import DemoClient
from demo.world import Calendar, money, record, stream, token

PAYMENT_TERMS_DAYS = 30
METHODS = {"EUR": "sepa_debit", "USD": "card", "BRL": "boleto", "JPY": "card"}
FAILURES = {
    "sepa_debit": ("insufficient_funds", "mandate_revoked"),
    "card": ("card_declined", "expired_card", "insufficient_funds"),
    "boleto": ("boleto_expired",),
}
DISPUTE_REASONS = ("fraudulent", "product_not_received", "duplicate", "subscription_canceled")
EVIDENCE_DAYS = 14
OPEN_DISPUTES = 2


def billing_events(roster: list[DemoClient], seed: int, calendar: Calendar) -> list[dict]:
    rng = stream(seed, "billing")
    events: list[dict] = []
    paid: dict[str, list[tuple[int, str, int]]] = {}  # slug -> (days ago, invoice, cents)
    for client in roster:
        paid[client.slug] = _invoices(rng, client, calendar, events)
    events += _subscriptions(rng, roster, calendar)
    events += _disputes(rng, roster, paid, calendar)
    return events


def _invoices(rng: random.Random, client: DemoClient, calendar: Calendar, events: list) -> list:
    """One invoice a month, oldest first; returns the paid ones."""
    months = max(1, client.history_days // 30)
    forgotten = rng.randrange(1, 3) if client.tier == "standard" and rng.random() < 0.15 else None
    paid = []
    for month in reversed(range(months)):
        issued_ago = 30 * month + 3
        invoice = f"in_{token(rng)}"
        number = f"INV-{client.account[4:]}-{months - month:03d}"
        cents = client.monthly_cents
        if rng.random() < 0.2:  # extra project hours this month
            cents += client.monthly_cents * rng.randint(1, 4) // 10 // 100 * 100
        amount = money(cents)
        zone, due_ago = client.zone, issued_ago - PAYMENT_TERMS_DAYS
        common = {"account": client.account, "currency": client.currency, "thread": invoice}
        events.append(
            record(
                f"evt_{token(rng)}",
                "invoice.issued",
                calendar.local(zone, issued_ago, 8, rng.randrange(60)),
                title=f"Invoice {number}",
                amount=amount,
                due_at=calendar.local(zone, due_ago, 23, 59),
                **common,
            )
        )
        late = client.tier == "problem"
        overdue = (late and month in (1, 2)) or month == forgotten
        failures = rng.randint(1, 2) if late else int(rng.random() < 0.08)
        delay = rng.randint(20, 50) if late else rng.randint(2, 25)
        paid_ago = issued_ago - delay
        for attempt in range(failures):
            # The first charge two days after the invoice, retried weekly: a
            # problem client's latest invoice has failed already, within its terms.
            failed_ago = issued_ago - 2 - 7 * attempt
            if failed_ago < 1 or (not overdue and failed_ago <= paid_ago):
                break
            reason = rng.choice(FAILURES[METHODS[client.currency]])
            events.append(
                record(
                    f"evt_{token(rng)}",
                    "payment.failed",
                    calendar.local(zone, failed_ago, 6, rng.randrange(60)),
                    title=f"Payment for {number} failed: {reason.replace('_', ' ')}",
                    amount=amount,
                    failure_reason=reason,
                    method=METHODS[client.currency],
                    **common,
                )
            )
        if overdue or paid_ago < 1:
            continue
        events.append(
            record(
                f"evt_{token(rng)}",
                "payment.received",
                calendar.local(zone, paid_ago, 10, rng.randrange(60)),
                title=f"Payment received for {number}",
                amount=amount,
                method=METHODS[client.currency],
                **common,
            )
        )
        paid.append((paid_ago, invoice, cents))
    return paid


def _subscriptions(rng: random.Random, roster: list[DemoClient], calendar: Calendar) -> list:
    """New clients start a subscription; some others add seats during the year."""
    events = []
    for client in roster:
        seats = rng.randint(5, 40)
        if client.tier == "new":
            events.append(
                record(
                    f"evt_{token(rng)}",
                    "subscription.created",
                    calendar.local(client.zone, client.customer_days, 11),
                    account=client.account,
                    title=f"Subscription started: {', '.join(client.products)} ({seats} seats)",
                    seats=seats,
                )
            )
        elif rng.random() < 0.25:
            added = rng.randint(2, 8)
            events.append(
                record(
                    f"evt_{token(rng)}",
                    "subscription.updated",
                    calendar.local(client.zone, rng.randint(20, 300), 11),
                    account=client.account,
                    title=f"Subscription changed: {added} seats added",
                    seats=seats + added,
                )
            )
    return events


def _disputes(rng: random.Random, roster, paid: dict, calendar: Calendar) -> list:
    """Two open disputes on recent payments, one settled dispute long ago."""
    candidates = [c for c in roster if c.tier in ("key", "problem") and paid[c.slug]]
    chosen = rng.sample(candidates, OPEN_DISPUTES + 1)
    events = []
    for number, client in enumerate(chosen):
        settled = number == OPEN_DISPUTES
        payments = [p for p in paid[client.slug] if (p[0] > 150) == settled]
        paid_ago, invoice, cents = payments[0] if settled else payments[-1]
        opened_ago = paid_ago - 30 if settled else rng.randint(2, 9)
        reason = DISPUTE_REASONS[number % len(DISPUTE_REASONS)]
        dispute = f"dp_{token(rng)}"
        common = {
            "account": client.account,
            "thread": dispute,
            "amount": money(cents),
            "currency": client.currency,
        }
        events.append(
            record(
                f"evt_{token(rng)}",
                "dispute.opened",
                calendar.local(client.zone, opened_ago, 15, rng.randrange(60)),
                title=f"Chargeback: {reason.replace('_', ' ')}",
                status="needs_response",
                reason=reason,
                evidence_due_by=calendar.day(EVIDENCE_DAYS - opened_ago),
                invoice=invoice,
                **common,
            )
        )
        if settled:
            events.append(
                record(
                    f"evt_{token(rng)}",
                    "dispute.closed",
                    calendar.local(client.zone, opened_ago - 12, 9, rng.randrange(60)),
                    title="Dispute won: evidence accepted by the bank",
                    status="won",
                    **common,
                )
            )
    return events
