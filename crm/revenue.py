"""Recurring revenue: the one definition of a client's MRR (monthly recurring revenue).

A client's **MRR** at a moment is the sum, per currency, of the monthly amount
of each of its recurring items that is earning then, converted into the
reporting currency by crm.money (which says what it could not convert).

- A **recurring item** is a subscription thread of the timeline (events of
  thread type `subscription`): a Stripe subscription, a ConnectWise agreement,
  a QuickBooks Online recurring invoice or a Xero repeating invoice. Its state
  at `now` is its latest event at or before `now` (by time; at one instant an
  end before a start or change, as the end is the later fact; then external
  id): a later price change wins, a start dated ahead counts only from that
  day.
- It is **earning** unless that latest event ends it (`subscription.cancelled`:
  cancelled, deleted, expired) or the record's status says it brings in
  nothing yet or any more (NOT_EARNING: trialing, paused, unpaid, incomplete,
  cancelled, expired, inactive, deleted), or its schedule's last billing day
  (`recurring_until`, an ISO date: a recurring invoice's end date) is past.
  A Stripe subscription set to cancel at the period's end still earns until
  it ends; one past due still earns.
- Its **monthly amount** is what the connector read into the event's
  `monthly_amount` attribute with `per_month` below: each price's amount
  times its quantity, per its interval normalised to a month (a year / 12, a
  quarter / 3, a week x 52 / 12, a day x 365 / 12; an interval count divides
  further), before tax, less the discounts the record gives. An item whose
  record does not say its price or interval, or names a discount only by its
  id (its amount unknown), has no monthly amount: it is counted as
  *unpriced*, never guessed (nor taken at its list price, which would state
  revenue the provider does not get).

Invoiced and collected revenue (what the period's invoices asked and its
payments brought in) stay what they were; MRR is a standing figure beside
them, as things stand at `now`.

`monthly_recurring` gives the figures per client (exact, in Decimal);
`converted_mrr_sql` is the same rule as SQL for the directory's sort.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Numeric, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from crm.models import Event
from crm.money import CENT, Rates, Total, total

THREAD_TYPE = "subscription"
ENDED_KIND = "subscription.cancelled"
# The event attributes a connector keeps a recurring record's own status in.
STATUS_ATTRIBUTES = ("stripe_status", "agreement_status", "schedule_status")
# The event attribute holding the last day a recurring invoice's schedule
# bills (ISO 8601 date): read from the latest event, so an end date moved
# later in the accounting system moves with it.
UNTIL_ATTRIBUTE = "recurring_until"
# Statuses of a recurring record that bring in nothing now (Stripe's,
# ConnectWise's and the recurring invoices', lower case): not started,
# paused, not paid, over.
NOT_EARNING = frozenset(
    {
        "trialing",
        "incomplete",
        "incomplete_expired",
        "paused",
        "unpaid",
        "canceled",
        "cancelled",
        "expired",
        "inactive",
        "deleted",
    }
)

# How many months one billing interval spans, by the names vendors give it
# (Stripe's `interval`, ConnectWise's billing cycle names, without spaces or
# dashes, lower case).
INTERVAL_MONTHS = {
    "day": Decimal(12) / Decimal(365),
    "daily": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "weekly": Decimal(12) / Decimal(52),
    "biweekly": Decimal(12) / Decimal(26),
    "month": Decimal(1),
    "monthly": Decimal(1),
    "bimonthly": Decimal(2),
    "quarter": Decimal(3),
    "quarterly": Decimal(3),
    "semiannual": Decimal(6),
    "semiannually": Decimal(6),
    "halfyearly": Decimal(6),
    "year": Decimal(12),
    "yearly": Decimal(12),
    "annual": Decimal(12),
    "annually": Decimal(12),
}


def interval_months(interval: str | None, count: int = 1) -> Decimal | None:
    """The months `count` intervals span ("year", 1 -> 12), or None when the
    interval is not one we know or the count is not a positive whole number."""
    months = INTERVAL_MONTHS.get("".join(ch for ch in (interval or "").lower() if ch.isalpha()))
    if months is None or isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return None
    return months * count


def per_month(amount: Decimal | None, interval: str | None, count: int = 1) -> Decimal | None:
    """`amount` billed every `count` `interval`s as an amount per month, to the
    cent; None when either is unknown."""
    months = interval_months(interval, count)
    if amount is None or months is None:
        return None
    try:
        return (Decimal(amount) / months).quantize(CENT)
    except InvalidOperation:
        return None


@dataclass
class Mrr:
    """One client's recurring revenue per month."""

    by_currency: dict[str, Decimal]  # exact, per currency, largest first
    total: Total  # all of it in the reporting currency, and what had no rate
    items: int = 0  # recurring items earning
    unpriced: int = 0  # of them, those without a known monthly amount

    @property
    def amounts(self) -> list[tuple[str, Decimal]]:
        return list(self.by_currency.items())


def _latest(now: datetime, client_ids: Iterable[int] | None = None):
    """Each recurring item's latest event at or before `now`: its kind, status,
    monthly amount and currency (one row per item)."""
    rank = (
        func.row_number()
        .over(
            partition_by=(Event.client_id, Event.thread_key),
            order_by=(
                Event.occurred_at.desc(),
                case((Event.kind == ENDED_KIND, 0), else_=1),
                Event.external_id.desc(),
            ),
        )
        .label("rank")
    )
    status = func.lower(
        func.coalesce(*(Event.attributes[name].as_string() for name in STATUS_ATTRIBUTES), "")
    )
    query = select(
        Event.client_id,
        Event.kind,
        Event.currency,
        status.label("status"),
        Event.attributes["monthly_amount"].as_string().label("monthly"),
        Event.attributes[UNTIL_ATTRIBUTE].as_string().label("until"),
        rank,
    ).where(
        Event.thread_type == THREAD_TYPE,
        Event.thread_key.is_not(None),
        Event.occurred_at <= now,
    )
    if client_ids is not None:
        query = query.where(Event.client_id.in_(list(client_ids)))
    return query.subquery("recurring_latest")


def _earning(latest, now: datetime):
    """The rule: the item's latest event does not end it, nor its status,
    nor its schedule's last billing day (ISO dates compare as text)."""
    return and_(
        latest.c.rank == 1,
        latest.c.kind != ENDED_KIND,
        or_(latest.c.status.is_(None), latest.c.status.not_in(sorted(NOT_EARNING))),
        or_(latest.c.until.is_(None), latest.c.until >= now.date().isoformat()),
    )


def earning_items(session: Session, client_ids: Iterable[int] | None, now: datetime):
    """(client id, currency, monthly amount text or None) of each earning item
    of the clients of `client_ids` (None: every client's)."""
    ids = None if client_ids is None else list(client_ids)
    if ids is not None and not ids:
        return []
    latest = _latest(now, ids)
    query = select(latest.c.client_id, latest.c.currency, latest.c.monthly).where(
        _earning(latest, now)
    )
    return session.execute(query).all()


def monthly_recurring(
    session: Session, client_ids: Iterable[int] | None, now: datetime, rates: Rates
) -> dict[int, Mrr]:
    """The MRR of each client of `client_ids` (None: of all) with an earning
    item at `now`."""
    amounts: dict[int, dict[str, Decimal]] = defaultdict(dict)
    items: dict[int, int] = defaultdict(int)
    unpriced: dict[int, int] = defaultdict(int)
    for client_id, currency, monthly in earning_items(session, client_ids, now):
        items[client_id] += 1
        amount = _decimal(monthly)
        if amount is None or not currency:
            unpriced[client_id] += 1
            continue
        code = currency.upper()
        amounts[client_id][code] = amounts[client_id].get(code, Decimal(0)) + amount
    return {
        client_id: _mrr(amounts[client_id], rates, n, unpriced[client_id])
        for client_id, n in items.items()
    }


def client_mrr(session: Session, client_id: int, now: datetime, rates: Rates) -> Mrr:
    """One client's MRR at `now` (nothing, when it has no earning item)."""
    found = monthly_recurring(session, [client_id], now, rates)
    return found.get(client_id) or _mrr({}, rates, 0, 0)


def _mrr(by_currency: Mapping[str, Decimal], rates: Rates, items: int, unpriced: int) -> Mrr:
    def size(pair):
        converted = rates.convert(pair[1], pair[0])
        return (converted is not None, converted or pair[1], pair[0])

    ordered = dict(sorted(by_currency.items(), key=size, reverse=True))
    return Mrr(ordered, total(ordered.items(), rates), items, unpriced)


def portfolio_mrr(per_client: Mapping[int, Mrr], rates: Rates) -> tuple[dict[str, Decimal], Total]:
    """Every client's MRR added per currency, and in the reporting currency."""
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for mrr in per_client.values():
        for code, amount in mrr.by_currency.items():
            by_currency[code] += amount
    return dict(by_currency), total(by_currency.items(), rates)


def converted_mrr_sql(now: datetime, rates: Rates):
    """The rule as SQL: a subquery of (client_id, converted), each client's MRR
    in the reporting currency at `now`, amounts without a rate left out (as in
    `monthly_recurring`'s total), for ordering clients by it."""
    latest = _latest(now)
    amount = cast(latest.c.monthly, Numeric(18, 4))
    converted = rates.sql_converted(amount, func.upper(latest.c.currency))
    return (
        select(latest.c.client_id, func.sum(converted).label("converted"))
        .where(_earning(latest, now), latest.c.monthly.is_not(None))
        .group_by(latest.c.client_id)
        .subquery("mrr")
    )


def _decimal(text) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
