"""The portfolio's raw figures: a few aggregate queries, each into a DataFrame.

Every query groups in SQL, so what reaches Python is one row per client (or
per currency, category or flagged thread), never one per event: the report
costs the same few round trips at 5,000 clients and 10M events. Only active
clients count.

**Revenue** is money collected in the period: payments received minus
refunds issued, from the timeline's billing events, per client and currency.
Amounts are never converted between currencies (Touchline holds no exchange
rates): analysis takes the 80/20 of each currency on its own. A payment
without a currency is counted under "XXX", ISO 4217's code for "no currency".

**Tickets** are the ticket threads opened in the period (one per ticket,
however many events it has), read from the thread states.

**Open flags** are read as things stand at `now`, whatever the period: the
thread states hold the present, not the past. They are the client directory's
flags (crm.clients.directory, which exposes per-client counts for a page of
clients but not the flagged threads themselves), written here once more as one
row per flagged thread; tests check that both agree client by client.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from crm.clients.directory import CRITICAL, STALE_TICKET_DAYS
from crm.models import Client, Entity, Event
from reports.portfolio.period import Period

NO_CURRENCY = "XXX"
# The directory's flags, most severe first (see analysis.FLAG_ORDER for why).
FLAG_COLUMNS = (
    "open_dispute",
    "critical_alert",
    "failed_payment",
    "overdue_invoice",
    "late_ticket",
    "overdue_commitment",
)
CLIENT_COLUMNS = (
    "client_id",
    "slug",
    "name",
    "tier",
    "customer_since",
    "timezone",
    "language",
    "account_manager",
)
REVENUE_COLUMNS = ("client_id", "currency", "revenue")
TICKET_COLUMNS = ("client_id", "tickets")
CATEGORY_COLUMNS = ("category", "tickets", "clients", "missed_sla")
FLAG_THREAD_COLUMNS = (
    "client_id",
    "type",
    "key",
    "title",
    "status",
    "opened_at",
    "due_at",
    "sla_due_at",
    "amount",
    "currency",
    "assignee",
    "last_event_at",
)

_ACTIVE = Client.status == "active"


@dataclass(frozen=True)
class PortfolioFrames:
    clients: pd.DataFrame  # CLIENT_COLUMNS, one row per active client
    revenue: pd.DataFrame  # REVENUE_COLUMNS, revenue a Decimal, per client and currency
    tickets: pd.DataFrame  # TICKET_COLUMNS, clients with tickets opened in the period
    categories: pd.DataFrame  # CATEGORY_COLUMNS, tickets opened in the period by category
    flags: pd.DataFrame  # FLAG_THREAD_COLUMNS + FLAG_COLUMNS (0/1), one row per flagged thread


def read_frames(session: Session, period: Period, now: datetime) -> PortfolioFrames:
    return PortfolioFrames(
        clients=clients_frame(session),
        revenue=revenue_frame(session, period),
        tickets=tickets_frame(session, period),
        categories=categories_frame(session, period, now),
        flags=flags_frame(session, now),
    )


def clients_frame(session: Session) -> pd.DataFrame:
    query = (
        select(
            Client.id,
            Client.slug,
            Client.name,
            Client.tier,
            Client.customer_since,
            Client.timezone,
            Client.language,
            Client.account_manager,
        )
        .where(_ACTIVE)
        .order_by(Client.id)
    )
    return _frame(session, query, CLIENT_COLUMNS)


def revenue_frame(session: Session, period: Period) -> pd.DataFrame:
    collected = case(
        (Event.kind == "payment.received", Event.amount),
        (Event.kind == "refund.issued", -Event.amount),
    )
    currency = func.coalesce(Event.currency, NO_CURRENCY)
    query = (
        select(Event.client_id, currency, func.sum(collected))
        .join(Client, Client.id == Event.client_id)
        .where(
            _ACTIVE,
            Event.kind.in_(("payment.received", "refund.issued")),
            Event.amount.is_not(None),
            Event.occurred_at >= period.starts_at,
            Event.occurred_at < period.ends_before,
        )
        .group_by(Event.client_id, currency)
        .order_by(Event.client_id, currency)
    )
    return _frame(session, query, REVENUE_COLUMNS)


def _tickets_opened_in(period: Period) -> tuple:
    return (
        _ACTIVE,
        Entity.type == "ticket",
        Entity.opened_at >= period.starts_at,
        Entity.opened_at < period.ends_before,
    )


def tickets_frame(session: Session, period: Period) -> pd.DataFrame:
    query = (
        select(Entity.client_id, func.count())
        .join(Client, Client.id == Entity.client_id)
        .where(*_tickets_opened_in(period))
        .group_by(Entity.client_id)
        .order_by(Entity.client_id)
    )
    return _frame(session, query, TICKET_COLUMNS)


def categories_frame(session: Session, period: Period, now: datetime) -> pd.DataFrame:
    """Tickets opened in the period per category; `missed_sla` counts those
    solved after their SLA or still open past it at `now`."""
    missed = and_(
        Entity.sla_due_at.is_not(None),
        or_(
            Entity.closed_at > Entity.sla_due_at,
            and_(Entity.closed_at.is_(None), Entity.sla_due_at < now),
        ),
    )
    query = (
        select(
            Entity.category,
            func.count(),
            func.count(func.distinct(Entity.client_id)),
            func.sum(case((missed, 1), else_=0)),
        )
        .join(Client, Client.id == Entity.client_id)
        .where(*_tickets_opened_in(period))
        .group_by(Entity.category)
    )
    return _frame(session, query, CATEGORY_COLUMNS)


def flags_frame(session: Session, now: datetime) -> pd.DataFrame:
    """Every open thread of an active client that raises a flag at `now`."""
    stale_before = now - timedelta(days=STALE_TICKET_DAYS)
    conditions = {
        "open_dispute": Entity.type == "dispute",
        "critical_alert": and_(Entity.type == "alert", _is_critical_alert()),
        "failed_payment": and_(Entity.type == "invoice", Entity.status == "failed"),
        "overdue_invoice": and_(Entity.type == "invoice", Entity.due_at < now),
        "late_ticket": and_(
            Entity.type == "ticket",
            or_(Entity.opened_at < stale_before, Entity.sla_due_at < now),
        ),
        "overdue_commitment": and_(Entity.type == "commitment", Entity.due_at < now),
    }
    open_threads = (
        select(
            Entity.client_id,
            Entity.type,
            Entity.key,
            Entity.title,
            Entity.status,
            Entity.opened_at,
            Entity.due_at,
            Entity.sla_due_at,
            Entity.amount,
            Entity.currency,
            Entity.assignee,
            Entity.last_event_at,
            *(case((condition, 1), else_=0).label(name) for name, condition in conditions.items()),
        )
        .join(Client, Client.id == Entity.client_id)
        .where(
            _ACTIVE,
            Entity.closed_at.is_(None),
            Entity.type.in_(("dispute", "alert", "invoice", "ticket", "commitment")),
        )
        .subquery("open_threads")
    )
    flagged = sum(open_threads.c[name] for name in FLAG_COLUMNS)
    query = (
        select(*(open_threads.c[name] for name in FLAG_THREAD_COLUMNS + FLAG_COLUMNS))
        .where(flagged > 0)
        .order_by(open_threads.c.client_id, open_threads.c.type, open_threads.c.key)
    )
    return _frame(session, query, FLAG_THREAD_COLUMNS + FLAG_COLUMNS)


def _is_critical_alert():
    """As the directory has it: the alert's priority says critical, or one of
    its events carries the attribute severity = critical."""
    severity = func.lower(Event.attributes["severity"].as_string())
    return or_(
        func.lower(Entity.priority) == CRITICAL,
        exists().where(
            Event.client_id == Entity.client_id,
            Event.thread_type == "alert",
            Event.thread_key == Entity.key,
            severity == CRITICAL,
        ),
    )


def _frame(session: Session, query, columns: tuple[str, ...]) -> pd.DataFrame:
    # Decimals and dates stay Python objects; aware datetimes become UTC timestamps.
    return pd.DataFrame([tuple(row) for row in session.execute(query)], columns=list(columns))
