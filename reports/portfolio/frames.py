"""The portfolio's raw figures: a few aggregate queries, each into a DataFrame.

Every query groups in SQL, so what reaches Python is one row per client (or
per currency or category, or one of the few flags listed), never one per event: the report
costs the same few round trips at 5,000 clients and 10M events. Only active
clients count.

**Revenue** is money collected in the period (crm.collected's rule: payments
received minus refunds issued, per client and currency, read from its
monthly cache and the period's partial edge months).
The frame keeps each currency apart: analysis takes the 80/20 of each
currency on its own, and reports.portfolio.tiers converts at the stated rates
(crm.money) to rank clients. A payment
without a currency is counted under "XXX", ISO 4217's code for "no currency".

**Tickets** are the ticket threads opened in the period (one per ticket,
however many events it has), read from the thread states.

**Open flags** are read as things stand at `now`, whatever the period
(reports.portfolio.flag_frames): each client's counts, and the most severe
few, ranked in SQL.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.collected import collected_in
from crm.database import planned_for_their_values
from crm.flags import DEFAULT_SETTINGS, FlagSettings
from crm.models import Client, Entity
from reports.portfolio.flag_frames import flag_counts_frame, flags_frame
from reports.portfolio.period import Period

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
_ACTIVE = Client.status == "active"


@dataclass(frozen=True)
class PortfolioFrames:
    clients: pd.DataFrame  # CLIENT_COLUMNS, one row per active client
    revenue: pd.DataFrame  # REVENUE_COLUMNS, revenue a Decimal, per client and currency
    tickets: pd.DataFrame  # TICKET_COLUMNS, clients with tickets opened in the period
    categories: pd.DataFrame  # CATEGORY_COLUMNS, tickets opened in the period by category
    flags: pd.DataFrame  # FLAG_THREAD_COLUMNS + RAISED_COLUMNS: the FLAGS_LISTED most severe
    flag_counts: pd.DataFrame  # per client with flags: FLAG_COLUMNS and `flags`


def read_frames(
    session: Session, period: Period, now: datetime, settings: FlagSettings = DEFAULT_SETTINGS
) -> PortfolioFrames:
    # Planned for their values: the partial indexes of tickets, payments and
    # alerts raised serve only a plan that knows the kind or type it reads.
    with planned_for_their_values(session):
        tickets, categories = ticket_frames(session, period, now)
        return PortfolioFrames(
            clients=clients_frame(session),
            revenue=revenue_frame(session, period),
            tickets=tickets,
            categories=categories,
            flags=flags_frame(session, now, settings),
            flag_counts=flag_counts_frame(session, now, settings),
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
    rows = collected_in(session, period.starts_at, period.ends_before, _ACTIVE)
    return pd.DataFrame(rows, columns=list(REVENUE_COLUMNS))


def _tickets_opened_in(period: Period) -> tuple:
    return (
        _ACTIVE,
        Entity.type == "ticket",
        Entity.opened_at >= period.starts_at,
        Entity.opened_at < period.ends_before,
    )


def ticket_frames(
    session: Session, period: Period, now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tickets frame (per client) and the categories frame (per category:
    tickets, clients, and `missed_sla`, those solved after their SLA or still
    open past it at `now`) of the tickets opened in the period.

    One read of the tickets, grouped by client and category (a few rows per
    client), added up here both ways: two reads of a year's tickets, one of
    them counting distinct clients, cost seconds at 10,000 clients."""
    missed = or_(
        and_(Entity.sla_due_at.is_not(None), Entity.closed_at > Entity.sla_due_at),
        rules.facet_sql("ticket", "past_sla", now),
    )
    # Grouped before the clients are joined: a join per ticket cost more
    # than the grouping itself.
    grouped = (
        select(
            Entity.client_id,
            Entity.category,
            func.count().label("tickets"),
            func.sum(case((missed, 1), else_=0)).label("missed"),
        )
        .where(*_tickets_opened_in(period)[1:])
        .group_by(Entity.client_id, Entity.category)
        .subquery("tickets")
    )
    query = (
        select(grouped.c.client_id, grouped.c.category, grouped.c.tickets, grouped.c.missed)
        .join(Client, Client.id == grouped.c.client_id)
        .where(_ACTIVE)
    )
    tickets: dict[int, int] = defaultdict(int)
    categories: dict[str | None, list[int]] = {}
    for client_id, category, count, missed_sla in session.execute(query):
        tickets[client_id] += count
        figures = categories.setdefault(category, [0, 0, 0])
        figures[0] += count
        figures[1] += 1  # one row per client and category
        figures[2] += missed_sla
    return (
        pd.DataFrame(sorted(tickets.items()), columns=list(TICKET_COLUMNS)),
        pd.DataFrame(
            [(category, *figures) for category, figures in categories.items()],
            columns=list(CATEGORY_COLUMNS),
        ),
    )


def _frame(session: Session, query, columns: tuple[str, ...]) -> pd.DataFrame:
    # Decimals and dates stay Python objects; aware datetimes become UTC timestamps.
    return pd.DataFrame([tuple(row) for row in session.execute(query)], columns=list(columns))
