"""Quotes, won and lost deals, and the contract renewals coming up.

Every new client was won by a quote shortly before it signed. Key clients
buy projects through the year, have a quote out this month and renew within
the next quarter; some standard clients have a quote out or a renewal due
too, so "renewals in the next 90 days" lists more than the obvious accounts.
"""

import random

from demo.roster import EXCHANGE, DemoClient
from demo.world import Calendar, money, record, stream, token

PROJECTS = (
    "Laptop refresh",
    "Firewall upgrade",
    "Microsoft 365 migration",
    "Wi-Fi survey and new access points",
    "Backup expansion",
    "VoIP phone system",
    "Security awareness training",
    "Server virtualisation",
)
LOST_REASONS = ("price", "went with a competitor", "no budget this year", "project postponed")
DEALS_PER_YEAR = {"key": (2, 4), "standard": (0, 1), "problem": (0, 1), "new": (0, 0)}
RENEWAL_WINDOW_DAYS = 90


def sales_events(roster: list[DemoClient], seed: int, calendar: Calendar) -> list[dict]:
    rng = stream(seed, "sales")
    events: list[dict] = []
    for client in roster:
        if client.tier == "new":
            events += _deal(rng, client, calendar, client.customer_days + 12, "won")
        for _ in range(rng.randint(*DEALS_PER_YEAR[client.tier])):
            quoted_ago = rng.randint(3, client.history_days)
            # Recent quotes are mostly still open; older ones were decided.
            weights = (30, 20, 50) if quoted_ago <= 45 else (60, 40, 0)
            outcome = rng.choices(("won", "lost", "open"), weights)[0]
            events += _deal(rng, client, calendar, quoted_ago, outcome)
        if client.tier == "key" or (client.tier == "standard" and rng.random() < 0.15):
            events += _deal(rng, client, calendar, rng.randint(3, 30), "open")
        if client.tier == "key" or (client.tier == "standard" and rng.random() < 0.3):
            events += _renewal(rng, client, calendar)
    return events


def _deal(rng: random.Random, client: DemoClient, calendar: Calendar, quoted_ago, outcome):
    deal = f"OPP-{token(rng, 32).upper()}"
    project = rng.choice(PROJECTS)
    cents = rng.randrange(150_000, 3_000_000, 10_000) * EXCHANGE[client.currency]
    common = {
        "account": client.account,
        "thread": deal,
        "amount": money(int(cents) // 10_000 * 10_000),
        "currency": client.currency,
        "actor": client.manager,
    }
    events = [
        record(
            f"sf-{token(rng)}",
            "quote.sent",
            calendar.local(client.zone, quoted_ago, 14, rng.randrange(60)),
            title=f"Quote: {project}",
            status="proposal",
            attributes={"stage": "Proposal", "probability": 50},
            **common,
        )
    ]
    if outcome == "open":
        return events
    closed_ago = max(1, quoted_ago - rng.randint(3, 30))
    lost = outcome == "lost"
    events.append(
        record(
            f"sf-{token(rng)}",
            f"deal.{outcome}",
            calendar.local(client.zone, closed_ago, 16, rng.randrange(60)),
            title=f"{'Lost' if lost else 'Won'}: {project}",
            attributes={"lost_reason": rng.choice(LOST_REASONS)} if lost else {"stage": "Won"},
            **common,
        )
    )
    return events


def _renewal(rng: random.Random, client: DemoClient, calendar: Calendar) -> list[dict]:
    """A yearly contract coming up within the next 90 days, announced 90 days before."""
    due_in = rng.randint(10, RENEWAL_WINDOW_DAYS - 5)
    return [
        record(
            f"sf-{token(rng)}",
            "renewal.due",
            calendar.local(client.zone, max(1, RENEWAL_WINDOW_DAYS - due_in), 9),
            account=client.account,
            thread=f"REN-{client.account[4:]}-{token(rng, 16)}",
            title=f"Annual contract renewal: {', '.join(client.products)}",
            amount=money(client.monthly_cents * 12),
            currency=client.currency,
            due_at=calendar.local(client.zone, -due_in, 23, 59),
            actor=client.manager,
        )
    ]
