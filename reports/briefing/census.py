"""What a briefing counts rather than reads: its flags, aging and talking points, in SQL.

A client with a million events has tens of thousands of open threads and
half a million events in a briefing's two periods, and the briefing shows
twenty flags and ten of each talking point. Of the rest it says counts and
sums: the severity counts and the health score weigh every flag (now and at
the start of the period), the aging table totals every overdue invoice, and
each list of talking points says how long it is (the period's figures and
campaigns: reports.briefing.counted). Those are asked of the database here,
from crm.flags' SQL forms of the rules flag_of reads (rank_sql, the facets'
conditions, aging_bucket_sql, recurring_sql, crm.flags.ahead), so they say
what reports.briefing.flags and .talking_points say of the whole frames
(tests/test_briefing_demo.py and tests/test_bounded_briefing.py hold the two
briefings equal); the few flags and points shown are explained by those
modules from the threads reports.briefing.shown reads.
"""

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from crm.flags import KINDS, RULES, SEVERITIES, Recurrence, recurring_sql
from crm.flags.ahead import open_quote_sql, renewal_due_sql
from crm.flags.ranking import rank_sql
from crm.flags.severity import AGING_BUCKETS, aging_bucket_sql
from crm.models import Entity, Event
from reports.briefing.model import SHOWN_POINTS, AgingBucket, BucketTotal
from reports.briefing.snapshot import Scope

KIND_NAMES = tuple(KINDS)
CRITICAL_ALERT = KIND_NAMES.index("critical_alert")
OVERDUE_INVOICE = KIND_NAMES.index("overdue_invoice")
SETTLED = (
    ("late_ticket", "low"),
    ("failed_payment", "low"),
)  # as reports.briefing.flags raises them


@dataclass
class Census:
    """A briefing's counts (see the module's docstring)."""

    now: Counter  # (kind, severity) -> flags at the briefing's moment
    before: Counter  # the same at the start of the period
    lines: int  # the flags as listed: critical alerts of one check on one device are one
    aging: dict[str, tuple[int, dict[str, object]]]  # bucket -> (invoices, currency -> amount)
    work_done: int  # tickets solved in the period
    solved: list  # the keys of the newest of them the briefing tells (newest_solved)
    deals_won: int
    renewals_due: int  # what lies ahead (crm.flags.ahead)
    open_quotes: int
    # (title, device) -> the critical alerts of a grouped line shown (reports.briefing.shown)
    sizes: dict = field(default_factory=dict)

    def aging_buckets(self, shown: list[AgingBucket]) -> list[AgingBucket]:
        """The aging table: every overdue invoice counted and totalled, with
        the events of those `shown` (aging_summary of the flags shown)."""
        ids = {bucket.label: bucket.event_ids for bucket in shown}
        table = []
        for label, _, _ in AGING_BUCKETS:
            count, totals = self.aging.get(label, (0, {}))
            lines = [BucketTotal(currency, amount) for currency, amount in sorted(totals.items())]
            table.append(AgingBucket(label, count, lines, ids.get(label, [])))
        return table


def take_census(session: Session, client_id: int, now: Scope, before: Scope) -> Census:
    counts, lines, aging = flag_counts(session, client_id, now, lines=True)
    work_done, solved = newest_solved(session, client_id, now)
    return Census(
        now=counts,
        before=flag_counts(session, client_id, before)[0],
        lines=lines,
        aging=aging,
        work_done=work_done,
        solved=solved,
        deals_won=session.scalar(select(func.count()).where(*won_sql(client_id, now))),
        renewals_due=session.scalar(_count(renewals_sql(client_id, now))),
        open_quotes=session.scalar(_count(quotes_sql(client_id, now))),
    )


# --- flags ---------------------------------------------------------------------------


def flagged(client_id: int, scope: Scope, *, cte: bool = False):
    """The client's threads that raise a flag at the scope's moment, ranked
    (crm.flags.ranking): a subquery (or with `cte` a common table expression)
    of id, type, key, severity (its index in SEVERITIES), since, kind (its
    index in KINDS), the title a flag shows, device, due_at, amount and
    currency."""
    rank = rank_sql(scope.as_of, scope.settings, present=scope.present)
    # the flag's title: the thread's, else its type and key (a critical alert's)
    title = case(
        (func.coalesce(Entity.title, "") == "", literal("Alert ") + Entity.key),
        else_=Entity.title,
    )
    found = select(
        Entity.id,
        Entity.type,
        Entity.key,
        rank.severity.label("severity"),
        rank.since.label("since"),
        rank.kind.label("kind"),
        title.label("title"),
        Entity.device,
        Entity.due_at,
        Entity.amount,
        Entity.currency,
    ).where(Entity.client_id == client_id, rank.flagged)
    return found.cte("flagged") if cte else found.subquery("flagged")


def flag_lines(client_id: int, scope: Scope):
    """flagged() with each line's place in its group (`n`, 1 for the line's
    own thread) and the group's size (`members`): the critical alerts of one
    check (the title) on one device are one line, told at its longest-waiting
    alert (reports.briefing.bounds.group_alerts); any other flag is its own.

    Only the critical alerts are numbered in their groups: a window over
    every flag sorted a busy client's 40,000 by a key computed for each. The
    flags are ranked once (a CTE, which both parts read)."""
    f = flagged(client_id, scope, cte=True)
    critical = f.c.kind == CRITICAL_ALERT
    group = (f.c.title, f.c.device)
    alone = select(f, literal(1).label("n"), literal(1).label("members")).where(~critical)
    grouped = select(
        f,
        func.row_number().over(partition_by=group, order_by=(f.c.since, f.c.id)).label("n"),
        func.count().over(partition_by=group).label("members"),
    ).where(critical)
    return union_all(alone, grouped).subquery("lines")


def flag_counts(
    session: Session, client_id: int, scope: Scope, *, lines: bool = False
) -> tuple[Counter, int, dict]:
    """(kind, severity) -> the flags at the scope's moment: the threads',
    the recurring alerts' and what the period settled; and, with `lines`,
    how many lines they are listed in (as flag_lines groups them) and the
    overdue invoices per aging bucket: how many, and their amounts per
    currency (reports.briefing.flags.aging_summary's figures); else 0 and
    {}. One pass over the ranked flags for the three: each ranks every open
    thread of a busy client."""
    f = flagged(client_id, scope)
    critical, overdue = f.c.kind == CRITICAL_ALERT, f.c.kind == OVERDUE_INVOICE
    # a critical alert's group (its check and device), an overdue invoice's
    # bucket and currency; none for any other flag
    grouped = select(
        f.c.severity,
        f.c.kind,
        case((critical, f.c.title)).label("title"),
        case((critical, f.c.device)).label("device"),
        case((overdue, aging_bucket_sql(f.c.due_at, scope.as_of))).label("bucket"),
        case((overdue, f.c.currency)).label("currency"),
        f.c.amount,
    ).subquery()
    g = grouped.c
    by = (g.severity, g.kind, *((g.title, g.device, g.bucket, g.currency) if lines else ()))
    sums = (func.sum(g.amount).label("amount"),) if lines else ()
    counts: Counter = Counter()
    listed, aging = 0, {}
    for row in session.execute(select(*by, func.count().label("count"), *sums).group_by(*by)):
        counts[(KIND_NAMES[row.kind], SEVERITIES[row.severity])] += row.count
        listed += 1 if lines and row.title is not None else row.count
        if lines and row.bucket is not None:
            invoices, totals = aging.get(row.bucket, (0, {}))
            if row.amount is not None:
                totals[row.currency or ""] = totals.get(row.currency or "", 0) + row.amount
            aging[row.bucket] = (invoices + row.count, totals)
    others = [_recurring_count(session, client_id, scope)]
    counts[(Recurrence.kind, Recurrence.severity)] += others[0]
    for flag, where in zip(SETTLED, settled_sql(client_id, scope), strict=True):
        others.append(session.scalar(_count(where)))
        counts[flag] += others[-1]
    # +counts: without the kinds none raised
    return +counts, listed + sum(others) if lines else 0, aging


def _recurring_count(session: Session, client_id: int, scope: Scope) -> int:
    recurring = recurring_sql(scope.as_of, Event.client_id == client_id).subquery()
    return session.scalar(select(func.count()).select_from(recurring))


def _count(where):
    return select(func.count()).select_from(Entity).where(where)


def settled_sql(client_id: int, scope: Scope) -> tuple:
    """What the period settled that a briefing flags low (reports.briefing.flags'
    settled_flags), as conditions on the entities: tickets solved in the
    period after their SLA (its `past_sla` facet held when they closed), and
    invoices settled in the period on which a payment failed in it."""
    start, as_of = scope.period_start, scope.as_of
    closed_in_period = and_(
        Entity.client_id == client_id,
        Entity.opened_at <= as_of,
        Entity.closed_at > start,
        Entity.closed_at <= as_of,
    )
    past_sla = RULES["ticket"].facet("past_sla").condition
    failed_in_period = (
        select(Event.id)
        .where(
            Event.client_id == client_id,
            Event.thread_type == "invoice",
            Event.thread_key == Entity.key,
            Event.kind == "payment.failed",
            Event.occurred_at > start,
            Event.occurred_at <= as_of,
        )
        .exists()
    )
    return (
        and_(
            closed_in_period,
            Entity.type == "ticket",
            past_sla.sql(Entity.closed_at, scope.settings),
        ),
        and_(closed_in_period, Entity.type == "invoice", failed_in_period),
    )


# --- talking points ------------------------------------------------------------------


def solved_sql(client_id: int, scope: Scope) -> tuple:
    """The solvings of tickets in the period (talking_points' work done)."""
    return (
        Event.client_id == client_id,
        Event.kind == "ticket.resolved",
        Event.thread_key.is_not(None),
        *_in_period(scope),
    )


def newest_solved(session: Session, client_id: int, scope: Scope) -> tuple[int, list[str]]:
    """How many tickets were solved in the period, and the keys of the
    SHOWN_POINTS + 1 solved last (talking_points tells the newest, and reads
    one more to know there are more): one pass over the period's solvings,
    which a busy client has tens of thousands of."""
    rows = session.execute(
        select(Event.thread_key, func.count().over().label("solved"))
        .where(*solved_sql(client_id, scope))
        .group_by(Event.thread_key)
        .order_by(func.max(Event.occurred_at).desc(), func.max(Event.id).desc())
        .limit(SHOWN_POINTS + 1)
    ).all()
    return (rows[0].solved if rows else 0), [row.thread_key for row in rows]


def won_sql(client_id: int, scope: Scope) -> tuple:
    return (Event.client_id == client_id, Event.kind == "deal.won", *_in_period(scope))


def renewals_sql(client_id: int, scope: Scope):
    """The renewals talking_points names as due (crm.flags.renewal_due)."""
    due = renewal_due_sql(scope.as_of, present=scope.present)
    return and_(Entity.client_id == client_id, due)


def quotes_sql(client_id: int, scope: Scope):
    return and_(Entity.client_id == client_id, open_quote_sql(scope.as_of, present=scope.present))


def _in_period(scope: Scope) -> tuple:
    return (Event.occurred_at > scope.period_start, Event.occurred_at <= scope.as_of)
