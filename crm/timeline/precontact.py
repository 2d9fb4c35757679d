"""The pre-contact card: what to know about a client before calling them.

Who they are and how to handle them (tier guidance, language, their local
time and whether their office is open), what is open **right now** (tickets
with their SLA, alerts and the checks that keep failing, disputes, failed
payments, overdue invoices, recent campaigns, quotes, renewals, our own
commitments) and what we finished **lately**, so the caller can ask how it
is going. What is flagged, and how, is crm.flags' one definition, as in the
directory, the briefing and the portfolio report.

Everything comes from the threads' current state (entities, through the
index ix_entities_open) and ranges of the events index (recent campaigns,
the alerts of the last 30 days), in a fixed handful of queries whatever the
client's history: a client with 100,000 events costs what a client with ten
does.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.flags import DEFAULT_SETTINGS, FlagSettings, Raised, Recurrence
from crm.formatting import zone
from crm.models import Client, Contact, Entity, Event
from crm.money import Rates, Total, rates_from_config, total
from crm.timeline.alert_groups import AlertGroup, AlertGroups, alert_groups
from crm.timeline.hours import BusinessHours, business_hours
from crm.timeline.lately import Campaign, Completed, completed_lately, recent_campaigns

MAIN_CONTACTS = 5
LIST = 10  # threads named per section; the rest are counted and a click away


@dataclass(frozen=True)
class Deadline:
    """Where a thread stands against its due time (a ticket's SLA, an invoice's
    due date): `late` (breached or overdue), `due` (still ahead) or `none`."""

    state: str
    at: datetime | None
    word: str  # how the late state is said for this thread: breached, overdue

    @classmethod
    def of(cls, at: datetime | None, now: datetime, word: str = "overdue") -> "Deadline":
        """Late once `at` has passed, as crm.flags counts it (a due date passed)."""
        if at is None:
            return cls("none", None, word)
        return cls(word if at < now else "due", at, word)

    @property
    def is_late(self) -> bool:
        return self.state == self.word


@dataclass(frozen=True)
class Item:
    """One open thread on the card."""

    entity: Entity
    deadline: Deadline
    age: timedelta  # since the thread opened
    flag: Raised | None = None  # what it raises (crm.flags), if anything

    @property
    def type(self) -> str:
        return self.entity.type

    @property
    def key(self) -> str:
        return self.entity.key


@dataclass(frozen=True)
class Card:
    client: Client
    now: datetime
    guidance: str
    local_now: datetime
    business_hours: str
    in_business_hours: bool
    contacts: list[Contact]
    more_contacts: int
    open_tickets: list[Item] = field(default_factory=list)
    active_alerts: list[Item] = field(default_factory=list)
    recurring_alerts: list[Recurrence] = field(default_factory=list)
    open_disputes: list[Item] = field(default_factory=list)
    failed_payments: list[Item] = field(default_factory=list)
    overdue_invoices: list[Item] = field(default_factory=list)
    campaigns: list[Campaign] = field(default_factory=list)
    open_quotes: list[Item] = field(default_factory=list)
    renewals: list[Item] = field(default_factory=list)
    commitments: list[Item] = field(default_factory=list)
    lately: list[Completed] = field(default_factory=list)  # the latest few
    lately_total: int = 0  # all work finished in the last 14 days
    recurring_total: int = 0  # the recurrences, of which recurring_alerts holds the first LIST
    alert_groups: list[AlertGroup] = field(default_factory=list)  # the first LIST groups
    alert_group_total: int = 0
    totals: dict[str, int] = field(default_factory=dict)  # section -> all its threads
    flag_counts: dict[str, int] = field(default_factory=dict)  # thread flag kind -> count
    overdue_totals: dict[str, Decimal] = field(default_factory=dict)  # currency -> all overdue
    overdue_total: Total | None = None  # all of it in the reporting currency (crm.money)

    @property
    def flagged(self) -> list:
        """What raises a flag (crm.flags): the flagged threads and the recurring
        alerts, most severe first."""
        items = (
            self.open_tickets
            + self.active_alerts
            + self.open_disputes
            + self.overdue_invoices
            + self.failed_payments
            + self.commitments
        )
        raised = [item.flag for item in items if item.flag is not None]
        return sorted(raised + self.recurring_alerts, key=rules.rank)

    @property
    def flags(self) -> list[str]:
        """What the caller must not walk into unaware, most pressing first:
        "2 late tickets", "1 open dispute". Counted over all the client's
        threads (SQL), ordered by the worst severity among those the card
        names (the longest waiting, which the aging makes the most severe)."""
        counts = dict(self.flag_counts) | {"recurring_alert": self.recurring_total}
        return rules.summary_of(counts, rules.worst_of(self.flagged))


def precontact_card(
    session: Session,
    client: Client,
    now: datetime,
    *,
    guidance: Mapping[str, str],
    hours: BusinessHours,
    settings: FlagSettings = DEFAULT_SETTINGS,
    rates: Rates | None = None,
) -> Card:
    """The card for `client` as it stands at `now` (aware); overdue amounts
    add up at `rates` (default: none, the reporting currency alone)."""
    client_zone = zone(client.timezone)
    contacts = list(client.contacts)
    lately, lately_total = completed_lately(session, client.id, now, client_zone)
    recurring, recurring_total = _recurring_alerts(session, client.id, now)
    grouped = alert_groups(session, client.id, now, LIST, settings)
    card = Card(
        client=client,
        now=now,
        guidance=guidance.get(client.tier, ""),
        local_now=now.astimezone(client_zone),
        business_hours=hours.text,
        in_business_hours=hours.is_open(now, client_zone),
        contacts=contacts[:MAIN_CONTACTS],
        more_contacts=max(0, len(contacts) - MAIN_CONTACTS),
        campaigns=recent_campaigns(session, client.id, now),
        recurring_alerts=recurring,
        recurring_total=recurring_total,
        alert_groups=grouped.groups,
        alert_group_total=grouped.total,
        lately=lately,
        lately_total=lately_total,
    )
    _fill_sections(session, client.id, now, card, settings, grouped)
    if card.overdue_totals:
        return replace(card, overdue_total=total(card.overdue_totals.items(), rates or Rates()))
    return card


def configured_card(session: Session, client: Client, now: datetime, config: Mapping) -> Card:
    """The card with the app's settings: tier guidance, business hours, flag settings."""
    return precontact_card(
        session,
        client,
        now,
        guidance=config["TIER_GUIDANCE"],
        hours=business_hours(config["BUSINESS_HOURS"]),
        settings=FlagSettings.from_config(config),
        rates=rates_from_config(config),
    )


# Each section of "right now": its threads (of the client's open ones) and the
# order it lists them in. The card reads the first LIST of each, and counts
# the rest, in SQL: a client with ten thousand open alerts gets the card a
# client with ten gets, with "and 9,990 more" linking to the full list.
def _sections(now: datetime, settings: FlagSettings) -> dict[str, tuple]:
    opened = (Entity.opened_at, Entity.id)
    due = (Entity.due_at, Entity.id)
    open_ = Entity.closed_at.is_(None)

    def of(thread_type: str):
        return and_(Entity.type == thread_type, open_)

    return {
        "open_tickets": (of("ticket"), opened),
        "active_alerts": (of("alert"), opened),
        "open_disputes": (of("dispute"), opened),
        # An invoice shows once, under its flag: overdue (with its status,
        # maybe "failed") or, while still within its terms, as a failed payment.
        "overdue_invoices": (rules.kind_sql("overdue_invoice", now, settings), due),
        "failed_payments": (rules.kind_sql("failed_payment", now, settings), opened),
        "open_quotes": (of("deal"), opened),
        # Renewals with no date cannot be said to be coming up; ones past
        # their date and still open are the most urgent of all.
        "renewals": (
            and_(of("renewal"), Entity.due_at <= now + rules.RENEWAL_HORIZON),
            due,
        ),
        # Soonest due first; promises without a due time last.
        "commitments": (
            of("commitment"),
            (Entity.due_at.is_(None), Entity.due_at, Entity.opened_at, Entity.id),
        ),
    }


# Where each section's "and N more" leads: the client's threads list, filtered.
SECTION_TYPES = {
    "open_tickets": "ticket",
    "active_alerts": "alert",
    "open_disputes": "dispute",
    "overdue_invoices": "invoice",
    "failed_payments": "invoice",
    "open_quotes": "deal",
    "renewals": "renewal",
    "commitments": "commitment",
}
# The flags whose count is a section's total: the same condition (crm.flags.kind_sql).
COUNTED_BY_SECTION = {"overdue_invoice": "overdue_invoices", "failed_payment": "failed_payments"}
# The sections counted alone (the overdue invoices are counted with their
# amounts, the open alerts with their groups).
COUNTED = tuple(name for name in SECTION_TYPES if name not in ("overdue_invoices", "active_alerts"))
# The thread types that can raise each flag (crm.flags.RULES).
FLAG_TYPES = {
    kind: tuple(t for t, rule in rules.RULES.items() if any(f.kind == kind for f in rule.facets))
    for kind in rules.THREAD_KINDS
}


def _fill_sections(
    session: Session,
    client_id: int,
    now: datetime,
    card: Card,
    settings: FlagSettings,
    grouped: AlertGroups,
) -> None:
    """Put the first LIST threads of each section of the card in it, with the
    flag each raises, and count them all; count the flags in SQL (the
    open alerts and the critical ones are counted with their groups, `grouped`)."""
    mine = Entity.client_id == client_id
    sections = _sections(now, settings)
    # The first LIST threads of every section, in one statement. Each
    # section's are chosen by id from an index of open threads in its order
    # (ix_entities_open_by_age, _by_due) whose columns answer its condition,
    # and only they are read whole: a rare match (failed payments among
    # 20,000 open invoices) is looked for in the index, not the table.
    firsts = [
        select(
            literal(name).label("section"),
            Entity.id.label("id"),
            func.row_number().over(order_by=order).label("place"),
        )
        .where(mine, condition)
        .order_by(*order)
        .limit(LIST)
        .subquery()
        for name, (condition, order) in sections.items()
    ]
    chosen = union_all(*(select(*first.c) for first in firsts)).subquery()
    # Every section and flag not counted elsewhere is counted apart, each a
    # range of an index of open threads for most, riding along on each row
    # (asked once: they are not correlated). A section or flag with a thread
    # to count has a row here. The flags that a section or the alert groups
    # count already, under the same condition (crm.flags.kind_sql), are not
    # counted again.
    counts = {name: condition for name, (condition, _) in sections.items() if name in COUNTED}
    for kind in rules.THREAD_KINDS:
        if kind not in COUNTED_BY_SECTION and kind != "critical_alert":
            of_kind = Entity.type.in_(FLAG_TYPES[kind])
            counts[kind] = and_(of_kind, rules.kind_sql(kind, now, settings))
    counters = (
        select(func.count()).select_from(Entity).where(mine, condition).correlate(None)
        for condition in counts.values()
    )
    rows = session.execute(
        select(chosen.c.section, Entity, *(counter.scalar_subquery() for counter in counters))
        .join(Entity, Entity.id == chosen.c.id)
        .order_by(chosen.c.section, chosen.c.place)
    ).all()
    for name, entity, *_ in rows:
        kind = entity.type
        word = "breached" if kind == "ticket" else "overdue"
        deadline = entity.sla_due_at if kind == "ticket" else entity.due_at
        flag = rules.flag_of(entity, now, settings)
        getattr(card, name).append(
            Item(entity, Deadline.of(deadline, now, word), now - entity.opened_at, flag)
        )
    counted = rows[0][2:] if rows else [0] * len(counts)
    overdue = _count_overdue(session, mine, sections["overdue_invoices"][0], card)
    found = dict(zip(counts, counted, strict=True))
    found |= {"overdue_invoices": overdue, "active_alerts": grouped.alerts}
    card.totals.update((name, found[name]) for name in sections)
    found |= {kind: found[section] for kind, section in COUNTED_BY_SECTION.items()}
    found["critical_alert"] = grouped.critical
    card.flag_counts.update((kind, found[kind]) for kind in rules.THREAD_KINDS)


def _count_overdue(session: Session, mine, overdue, card: Card) -> int:
    """Add up what the overdue invoices owe in each currency, and count them,
    in one reading of them; their count."""
    rows = session.execute(
        select(Entity.currency, func.count(), func.sum(Entity.amount))
        .where(mine, overdue)
        .group_by(Entity.currency)
    ).all()
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, _, amount in rows:
        if amount is not None:  # none of them with an amount
            totals[currency or ""] += Decimal(amount)
    card.overdue_totals.update(sorted(totals.items()))
    return sum(count for _, count, _ in rows)


def _recurring_alerts(
    session: Session, client_id: int, now: datetime
) -> tuple[list[Recurrence], int]:
    """The first LIST checks that keep failing on one device (crm.flags.recurrences,
    in its order) and how many there are, grouped in SQL from the alerts
    raised in the last 30 days (crm.flags.recurring_sql): a busy client
    raises tens of thousands in 30 days, too many to read one by one. The
    latest occurrence's thread is looked up for the LIST named alone."""
    mine = Event.client_id == client_id
    recurring = rules.recurring_sql(now, mine).subquery("recurring")
    c = recurring.c
    order = (c.times.desc(), c.first, c.instance, c.alertname)
    first = (
        select(*c, func.count().over().label("total"))
        .order_by(*order)
        .limit(LIST)
        .subquery("first")
    )
    named = first.c
    rows = session.execute(
        select(
            named.instance,
            named.alertname,
            named.times,
            named.first,
            named.last,
            rules.latest_thread_sql(first, now, mine),
            named.total,
        ).order_by(named.times.desc(), named.first, named.instance, named.alertname)
    ).all()
    return [Recurrence(*row[:-1]) for row in rows], (rows[0][-1] if rows else 0)
