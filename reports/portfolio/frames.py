"""The portfolio's raw figures: a few aggregate queries, each into a DataFrame.

Every query groups in SQL, so what reaches Python is one row per client (or
per currency, category or flagged thread), never one per event: the report
costs the same few round trips at 5,000 clients and 10M events. Only active
clients count.

**Revenue** is money collected in the period: payments received minus
refunds issued, from the timeline's billing events, per client and currency.
The frame keeps each currency apart: analysis takes the 80/20 of each
currency on its own, and reports.portfolio.tiers converts at the stated rates
(crm.money) to rank clients. A payment
without a currency is counted under "XXX", ISO 4217's code for "no currency".

**Tickets** are the ticket threads opened in the period (one per ticket,
however many events it has), read from the thread states.

**Open flags** are read as things stand at `now`, whatever the period: the
thread states hold the present, not the past. They are crm.flags' one
definition, as the directory, the card and the briefing read it: the rules'
SQL picks the flagged threads of active clients, the same rules in Python
name each one's flag, severity and age, and the recurring alerts come from
the rules' grouping of the last 30 days' alerts (the latest occurrence's
thread stands for each).
"""

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.flags import DEFAULT_SETTINGS, FlagSettings
from crm.models import Client, Entity, Event
from reports.portfolio.period import Period

NO_CURRENCY = "XXX"
# crm.flags' flags, in the order it reads them (most pressing first): a
# client's count of each.
FLAG_COLUMNS = tuple(rules.KINDS)
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
# What crm.flags says of each: the flag, its severity, since when, and every
# flag its facets would raise alone ("overdue invoice, failed payment").
RAISED_COLUMNS = ("flag", "severity", "since", "labels")

_ACTIVE = Client.status == "active"


@dataclass(frozen=True)
class PortfolioFrames:
    clients: pd.DataFrame  # CLIENT_COLUMNS, one row per active client
    revenue: pd.DataFrame  # REVENUE_COLUMNS, revenue a Decimal, per client and currency
    tickets: pd.DataFrame  # TICKET_COLUMNS, clients with tickets opened in the period
    categories: pd.DataFrame  # CATEGORY_COLUMNS, tickets opened in the period by category
    flags: pd.DataFrame  # FLAG_THREAD_COLUMNS + RAISED_COLUMNS, one row per flag


def read_frames(
    session: Session, period: Period, now: datetime, settings: FlagSettings = DEFAULT_SETTINGS
) -> PortfolioFrames:
    return PortfolioFrames(
        clients=clients_frame(session),
        revenue=revenue_frame(session, period),
        tickets=tickets_frame(session, period),
        categories=categories_frame(session, period, now),
        flags=flags_frame(session, now, settings),
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
    missed = or_(
        and_(Entity.sla_due_at.is_not(None), Entity.closed_at > Entity.sla_due_at),
        rules.facet_sql("ticket", "past_sla", now),
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


def flags_frame(
    session: Session, now: datetime, settings: FlagSettings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Every flag of an active client at `now`: its flagged threads and its recurring alerts."""
    state = [getattr(Entity, name) for name in FLAG_THREAD_COLUMNS]
    threads = session.execute(
        select(*state, Entity.closed_at, Entity.priority)
        .join(Client, Client.id == Entity.client_id)
        .where(
            _ACTIVE,
            or_(*(rules.rule_sql(kind, now, settings) for kind in rules.FLAGGED_TYPES)),
        )
        .order_by(Entity.client_id, Entity.type, Entity.key)
    )
    rows = []
    for thread in threads:
        raised = rules.flag_of(thread, now, settings)
        rows.append(
            dict(zip(FLAG_THREAD_COLUMNS, thread, strict=False))
            | _raised(raised.kind, raised.severity, raised.since, raised.facet_kinds)
        )
    for client_id, instance, alertname, _, first, last, key in session.execute(_recurring(now)):
        rows.append(
            {"client_id": client_id, "type": "alert", "key": key}
            | {"title": f"{alertname} on {instance}", "opened_at": first, "last_event_at": last}
            | _raised("recurring_alert", "high", first, ("recurring_alert",))
        )
    columns = list(FLAG_THREAD_COLUMNS + RAISED_COLUMNS)
    return pd.DataFrame([[row.get(name) for name in columns] for row in rows], columns=columns)


def _raised(kind: str, severity: str, since: datetime, kinds: tuple[str, ...]) -> dict:
    labels = ", ".join(rules.LABELS[each] for each in kinds)
    return {"flag": kind, "severity": severity, "since": since, "labels": labels}


def _recurring(now: datetime):
    """crm.flags' recurrences of active clients, each with its latest occurrence's thread."""
    recurring = rules.recurring_sql(now).subquery("recurring")
    raised = rules.raised_in_window(now).subquery("raised")
    latest = (
        select(raised.c.thread_key)
        .where(
            raised.c.client_id == recurring.c.client_id,
            raised.c.instance == recurring.c.instance,
            raised.c.alertname == recurring.c.alertname,
            raised.c.occurred_at == recurring.c.last,
        )
        .order_by(raised.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(*recurring.c, latest)
        .join(Client, Client.id == recurring.c.client_id)
        .where(_ACTIVE)
        .order_by(recurring.c.client_id, recurring.c.instance, recurring.c.alertname)
    )


def _frame(session: Session, query, columns: tuple[str, ...]) -> pd.DataFrame:
    # Decimals and dates stay Python objects; aware datetimes become UTC timestamps.
    return pd.DataFrame([tuple(row) for row in session.execute(query)], columns=list(columns))
