"""The demo portfolio's flags agree everywhere: directory, card, briefing and portfolio report.

The demo is loaded once for the module (`flask demo load`, through the real
pipeline) into an app of its own, as tests/test_briefing_demo.py does, and
every client is read the four ways at one moment. Each must find the same
flags on the same threads, as severe and waiting since the same moment, and
count each flagged thread once.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import select

from crm import config
from crm.clients.directory import MAX_PER_PAGE, DirectoryFilters, client_directory
from crm.extensions import db
from crm.flags import KINDS, FlagSettings
from crm.formatting import age, elapsed
from crm.models import Client
from crm.models.types import utcnow
from crm.timeline.hours import BusinessHours
from crm.timeline.precontact import precontact_card
from reports.briefing.build import build_briefing
from reports.portfolio.period import last_twelve_months
from reports.portfolio.report import build_portfolio
from tests.helpers import demo_loaded


@dataclass
class Demo:
    app: Flask
    now: datetime
    clients: list[Client]


@pytest.fixture(scope="module")
def demo(database_url, tmp_path_factory):
    with demo_loaded(database_url, tmp_path_factory.mktemp("demo")) as app:
        clients = db.session.scalars(select(Client).order_by(Client.slug)).all()
        yield Demo(app, utcnow(), clients)


# What each place says of a flag: (thread type, thread key, flag, severity, since);
# a recurring alert by its latest occurrence's thread.
Said = tuple[str | None, str | None, str, str, datetime]


def _directory(demo: Demo) -> dict[str, Counter]:
    filters = DirectoryFilters(per_page=MAX_PER_PAGE)
    page = client_directory(db.session, filters, now=demo.now, settings=FlagSettings())
    assert page.total == len(page.rows) == len(demo.clients)
    return {row.slug: Counter({k: getattr(row, f"{k}s") for k in KINDS}) for row in page.rows}


def _card(demo: Demo, client: Client) -> set[Said]:
    card = precontact_card(
        db.session,
        client,
        demo.now,
        guidance=config.TIER_GUIDANCE,
        hours=BusinessHours.parse("Mon-Fri 09:00-17:30"),
    )
    items = card.open_tickets + card.active_alerts + card.open_disputes + card.commitments
    items += card.overdue_invoices + card.failed_payments
    said = {
        (item.type, item.key, item.flag.kind, item.flag.severity, item.flag.since)
        for item in items
        if item.flag is not None
    }
    for item in items:
        if item.flag is not None:
            # the card's ages are the flag's: "opened 4 days ago", "was due 2 weeks ago"
            shown = item.entity.opened_at if item.type in ("ticket", "dispute", "alert") else None
            shown = shown or (item.entity.due_at if item.flag.kind != "failed_payment" else None)
            shown = shown or item.entity.last_event_at
            assert age(shown, demo.now) == elapsed(item.flag.since, demo.now) + " ago"
    said |= {
        ("alert", r.last_thread_key, r.kind, r.severity, r.first) for r in card.recurring_alerts
    }
    return said


def _briefing(demo: Demo, client: Client) -> set[Said]:
    briefing = build_briefing(db.session, client, now=demo.now)
    open_flags = [flag for flag in briefing.flags if not flag.settled]
    return {(f.thread_type, f.thread_key, f.kind, f.severity, f.since) for f in open_flags}


def _portfolio(demo: Demo) -> dict[str, set[Said]]:
    report = build_portfolio(db.session, last_twelve_months(demo.now.date()), demo.now)
    said: dict[str, set[Said]] = {}
    for row in report.flags.to_dict("records"):
        since = row["since"].to_pydatetime()
        flag = (row["type"], row["key"] or None, row["flag"], row["severity"], since)
        said.setdefault(row["slug"], set()).add(flag)
    # its per-client counts (the CSV's columns) are its flags, counted once each
    counts = report.clients.set_index("slug")[list(KINDS)]
    for slug, row in counts.iterrows():
        kinds = Counter(flag[2] for flag in said.get(slug, ()))
        assert {kind: int(count) for kind, count in row.items()} == {k: kinds[k] for k in KINDS}
    return said


def test_every_client_has_the_same_flags_in_the_directory_card_briefing_and_portfolio(demo):
    directory = _directory(demo)
    portfolio = _portfolio(demo)
    seen: Counter = Counter()
    for client in demo.clients:
        card = _card(demo, client)
        briefing = _briefing(demo, client)
        assert card == briefing, client.slug
        counts = Counter(flag[2] for flag in card)
        assert +directory[client.slug] == counts, client.slug
        if client.status == "active":  # the portfolio report reads active clients
            assert portfolio.get(client.slug, set()) == card, client.slug
        seen += counts
    # The demo has every kind of flag, and each flagged thread counts once.
    assert set(seen) == set(KINDS)
    assert sum(seen.values()) == sum(sum(counts.values()) for counts in directory.values())


def test_a_failed_payment_on_an_overdue_invoice_counts_once_everywhere(demo):
    directory = _directory(demo)
    both = []
    for client in demo.clients:
        briefing = build_briefing(db.session, client, now=demo.now)
        both += [
            (client.slug, flag)
            for flag in briefing.flags
            if flag.facets == ["overdue", "payment_failed"] and not flag.settled
        ]
    assert both  # the demo's problem clients have them
    for slug, flag in both:
        assert flag.kind == "overdue_invoice" and flag.severity in ("critical", "high")
        assert directory[slug]["overdue_invoice"] >= 1
