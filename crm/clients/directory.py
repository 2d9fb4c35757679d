"""The client directory: every client with what needs attention, filtered and sorted.

A page costs a fixed number of queries whatever the number of clients, in
two steps. First the page's clients (and how many match) are chosen by one
query over `clients`, which joins an aggregate over all open entities only when the
order or the filter needs one (sort by open tickets or overdue amount,
"has open flags"). Then what the rows show is read for those clients alone:
one aggregate over their open entities grouped by client (ix_entities_open:
client_id, type, closed_at), their last touch, groups and overdue amounts.
Last touch is a correlated `max(occurred_at)` per client, which the events'
(client_id, occurred_at, id) index answers with one seek each; grouping all
events by client would read every event in the database.

A client **has open flags** when, at `now`, any of its threads raises one,
or an alert of its keeps coming back, by the one definition of crm.flags: an
open dispute, a critical alert, an overdue invoice, a failed payment, a late
ticket, a recurring alert, an overdue commitment. Each flagged thread counts
once, under its flag (an overdue invoice whose payment failed is an overdue
invoice); recurring alerts are counted from the alerts raised in the last
30 days (one range of the events' timeline index per client of the page).

**Overdue amount** is shown per currency, since a client may owe in EUR and
GBP at once, with its total in the reporting currency (crm.money). Sorting by
it orders clients by that converted total; an amount in a currency without a
rate is shown and flagged as unconverted, and does not count in the order.
**Overdue for a meeting** is crm.meetings.cadence's rule (the tier's cadence).
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm import revenue
from crm.accounts.models import User
from crm.clients import standing
from crm.clients.filters import DirectoryFilters
from crm.clients.filters import conditions as filter_conditions
from crm.flags import DEFAULT_SETTINGS, FlagSettings
from crm.health import FULL_HEALTH, current_scores
from crm.meetings import cadence as meeting_cadence
from crm.models import Client, Entity, Event, Group, client_groups
from crm.money import Rates, Total, current_rates, total
from crm.paging import MAX_PER_PAGE, Page
from crm.vocabulary import GROUP_KINDS

# Each flag of crm.flags (most pressing first): the row's column that counts
# it, and how a page names it.
FLAGS = {f"{kind}s": rules.LABELS[kind] for kind in rules.KINDS}


@dataclass(frozen=True)
class GroupRef:
    id: int
    kind: str
    name: str


@dataclass(frozen=True)
class Amount:
    currency: str | None
    amount: Decimal


@dataclass
class DirectoryRow:
    id: int
    slug: str
    name: str
    tier: str
    status: str
    account_manager: str | None
    open_tickets: int
    open_disputes: int
    critical_alerts: int
    failed_payments: int
    overdue_invoices: int
    late_tickets: int
    recurring_alerts: int
    overdue_commitments: int
    last_touch: datetime | None
    next_renewal: datetime | None
    health: int = FULL_HEALTH  # crm.health, as things stand
    last_contact: datetime | None = None  # crm.clients.standing
    groups: list[GroupRef] = field(default_factory=list)
    # what is overdue in each currency, largest (converted) first
    overdue: list[Amount] = field(default_factory=list)
    # all of it in the reporting currency, and what had no rate (crm.money)
    overdue_total: Total | None = None
    meeting_overdue: bool = False  # crm.meetings.cadence
    # recurring revenue per month in each currency, and converted (crm.revenue)
    mrr: list[Amount] = field(default_factory=list)
    mrr_total: Total | None = None
    mrr_unpriced: int = 0  # earning items whose monthly amount is unknown

    @property
    def flags(self) -> list[str]:
        """The open flags, named for people ("overdue invoice", ...)."""
        return [label for column, label in FLAGS.items() if getattr(self, column)]

    @property
    def has_open_flags(self) -> bool:
        return any(getattr(self, column) for column in FLAGS)


class DirectoryPage(Page["DirectoryRow"]):
    """A page of the directory; its rows are its items."""

    @property
    def rows(self) -> list["DirectoryRow"]:
        return self.items


def client_directory(
    session: Session,
    filters: DirectoryFilters,
    *,
    now: datetime,
    settings: FlagSettings = DEFAULT_SETTINGS,
    rates: Rates | None = None,
    cadence: Mapping[str, int] = meeting_cadence.DEFAULT_CADENCE,
) -> DirectoryPage:
    """One page of the directory as things stand at `now`; amounts convert at
    `rates` (default: the app's configured rates); `cadence`: each tier's
    days between meetings (crm.meetings.cadence)."""
    rates = rates or current_rates()
    conditions = filter_conditions(filters, now, settings, cadence)
    # The total rides along as a window count, so the filters (and the flagged
    # set) are computed once, not again for a separate count.
    total = func.count().over().label("total")
    query = select(
        Client.id,
        Client.slug,
        Client.name,
        Client.tier,
        Client.status,
        Client.account_manager,
        total,
    ).where(*conditions)
    if filters.sort == "name":
        sort_key = func.lower(Client.name)
    elif filters.sort == "last_touch":
        sort_key = standing.last_touch_sql(now)
    elif filters.sort == "last_contact":
        sort_key = standing.last_contact_sql(now)
    elif filters.sort == "health":
        sort_key = standing.health_sql(session, now, settings)
    elif filters.sort == "open_tickets":
        tickets = _open_ticket_counts()
        query = query.outerjoin(tickets, tickets.c.client_id == Client.id)
        sort_key = func.coalesce(tickets.c.open_tickets, 0)
    elif filters.sort == "mrr":
        recurring = revenue.converted_mrr_sql(now, rates)
        query = query.outerjoin(recurring, recurring.c.client_id == Client.id)
        sort_key = func.coalesce(recurring.c.converted, 0)
    else:
        owed = _converted_overdue(now, rates)
        query = query.outerjoin(owed, owed.c.client_id == Client.id)
        sort_key = func.coalesce(owed.c.converted, 0)
    # A client never touched counts as touched longest ago.
    primary = (
        sort_key.desc().nulls_last() if filters.order == "desc" else sort_key.asc().nulls_first()
    )
    per_page = min(max(filters.per_page, 1), MAX_PER_PAGE)
    page = max(filters.page, 1)
    query = (
        query.order_by(primary, func.lower(Client.name), Client.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    clients = session.execute(query).all()
    if clients:
        matching = clients[0].total
    elif page == 1:
        matching = 0
    else:  # past the last page: the count alone
        matching = session.scalar(select(func.count(Client.id)).where(*conditions))

    ids = [client.id for client in clients]
    stats = _open_thread_stats(session, ids, now, settings)
    recurring = _recurring_alerts(session, ids, now)
    last_touches = standing.last_touches(session, ids, now)
    scores = current_scores(session, ids, now, settings)
    contacts = standing.last_contacts(session, ids, now)
    overdue_meetings = meeting_cadence.overdue_ids(session, ids, now, cadence)
    rows = [
        DirectoryRow(
            **{name: value for name, value in client._mapping.items() if name != "total"},
            **stats.get(client.id, _NO_OPEN_THREADS),
            recurring_alerts=recurring.get(client.id, 0),
            last_touch=last_touches.get(client.id),
            health=scores[client.id],
            last_contact=contacts.get(client.id),
            meeting_overdue=client.id in overdue_meetings,
        )
        for client in clients
    ]
    _attach_groups(session, rows)
    _attach_overdue(session, rows, now, rates)
    _attach_mrr(session, rows, now, rates)
    return DirectoryPage(rows, page, per_page, matching)


def directory_choices(session: Session) -> dict:
    """What the filter form offers: every group (by kind), account manager's
    name, and account managing a client (id and name, for "managed by")."""
    groups = session.execute(
        select(Group.id, Group.kind, Group.name).order_by(Group.kind, Group.name)
    )
    by_kind: dict[str, list[GroupRef]] = defaultdict(list)
    for group_id, kind, name in groups:
        by_kind[kind].append(GroupRef(group_id, kind, name))
    managers = session.scalars(
        select(Client.account_manager)
        .where(Client.account_manager.is_not(None))
        .distinct()
        .order_by(Client.account_manager)
    ).all()
    accounts = session.execute(
        select(User.id, User.name)
        .where(User.id.in_(select(Client.manager_id)))
        .order_by(User.name, User.id)
    ).all()
    return {"groups": dict(by_kind), "account_managers": managers, "managers": accounts}


# --- the query ---------------------------------------------------------------------


_NO_OPEN_THREADS = dict.fromkeys(
    ("open_tickets", *(f"{kind}s" for kind in rules.THREAD_KINDS)), 0
) | {"next_renewal": None}


def _open_thread_stats(
    session: Session, ids: list[int], now: datetime, settings: FlagSettings
) -> dict[int, dict]:
    """Per client of `ids` with open threads: its flags, open tickets and next renewal.

    One aggregate over the clients' open entities, which ix_entities_open
    (client_id, type, closed_at) finds without reading their closed ones.
    """
    if not ids:
        return {}

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    columns = {"open_tickets": count(Entity.type == "ticket")}
    columns |= {
        f"{kind}s": count(rules.kind_sql(kind, now, settings)) for kind in rules.THREAD_KINDS
    }
    columns["next_renewal"] = func.min(case((Entity.type == "renewal", Entity.due_at)))
    rows = session.execute(
        select(Entity.client_id, *(value.label(name) for name, value in columns.items()))
        .where(Entity.client_id.in_(ids), Entity.closed_at.is_(None))
        .group_by(Entity.client_id)
    )
    return {row.client_id: {name: row._mapping[name] for name in columns} for row in rows}


def _recurring_alerts(session: Session, ids: list[int], now: datetime) -> dict[int, int]:
    """Per client of `ids` whose alerts recur: how many checks on which devices."""
    if not ids:
        return {}
    recurring = rules.recurring_sql(now, Event.client_id.in_(ids)).subquery()
    rows = session.execute(
        select(recurring.c.client_id, func.count()).group_by(recurring.c.client_id)
    )
    return dict(rows.all())


def _open_ticket_counts():
    """Per client with open tickets: how many (for sorting all clients by it)."""
    return (
        select(Entity.client_id, func.count().label("open_tickets"))
        .where(Entity.type == "ticket", Entity.closed_at.is_(None))
        .group_by(Entity.client_id)
        .subquery("open_ticket_counts")
    )


def _overdue_invoices(now: datetime):
    """Every overdue invoice, its payment failed or not (crm.flags' facet `overdue`)."""
    return (rules.facet_sql("invoice", "overdue", now),)


def _converted_overdue(now: datetime, rates: Rates):
    """Per client owing anything: its overdue total in the reporting currency
    (amounts without a rate left out of the order, crm.money)."""
    converted = rates.sql_converted(Entity.amount, func.upper(Entity.currency))
    return (
        select(Entity.client_id, func.sum(converted).label("converted"))
        .where(*_overdue_invoices(now), Entity.amount.is_not(None))
        .group_by(Entity.client_id)
        .subquery("converted_overdue")
    )


_KIND_ORDER = {kind: position for position, kind in enumerate(GROUP_KINDS)}


def _attach_groups(session: Session, rows: list[DirectoryRow]) -> None:
    by_id = {row.id: row for row in rows}
    if not by_id:
        return
    groups = session.execute(
        select(client_groups.c.client_id, Group.id, Group.kind, Group.name)
        .join(Group, Group.id == client_groups.c.group_id)
        .where(client_groups.c.client_id.in_(by_id))
    ).all()
    # Kinds in vocabulary order (industry and products first), names A-Z.
    groups.sort(key=lambda g: (_KIND_ORDER.get(g.kind, len(_KIND_ORDER)), g.name.lower()))
    for client_id, group_id, kind, name in groups:
        by_id[client_id].groups.append(GroupRef(group_id, kind, name))


def _attach_overdue(
    session: Session, rows: list[DirectoryRow], now: datetime, rates: Rates
) -> None:
    by_id = {row.id: row for row in rows}
    if not by_id:
        return
    totals = session.execute(
        select(Entity.client_id, Entity.currency, func.sum(Entity.amount))
        .where(*_overdue_invoices(now), Entity.amount.is_not(None), Entity.client_id.in_(by_id))
        .group_by(Entity.client_id, Entity.currency)
    ).all()

    def worth(row) -> tuple[bool, Decimal]:
        converted = rates.convert(row[2], row[1])
        return (converted is not None, converted or Decimal(0))

    for client_id, currency, amount in sorted(totals, key=worth, reverse=True):
        by_id[client_id].overdue.append(Amount(currency, amount))
    for row in by_id.values():
        if row.overdue:
            row.overdue_total = total(((a.currency, a.amount) for a in row.overdue), rates)


def _attach_mrr(session: Session, rows: list[DirectoryRow], now: datetime, rates: Rates) -> None:
    by_id = {row.id: row for row in rows}
    for client_id, mrr in revenue.monthly_recurring(session, by_id, now, rates).items():
        row = by_id[client_id]
        row.mrr = [Amount(currency, amount) for currency, amount in mrr.amounts]
        row.mrr_total = mrr.total if mrr.by_currency else None
        row.mrr_unpriced = mrr.unpriced
