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

from sqlalchemy import and_, case, func, literal, null, or_, select, type_coerce, union_all
from sqlalchemy.orm import Session

from crm.flags import KINDS, RULES, SEVERITIES, Recurrence, open_sql, recurring_sql
from crm.flags.ahead import open_quote_sql, renewal_due_sql
from crm.flags.ranking import rank_sql
from crm.flags.severity import AGING_BUCKETS, aging_bucket_sql
from crm.models import Entity, Event
from reports.briefing.model import SHOWN_FLAGS, SHOWN_POINTS, AgingBucket, BucketTotal
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
    first_lines: list  # flag_counts' first lines at the briefing's moment, ranked
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
    counts, previous, lines, aging, first = flag_counts(session, client_id, now, before)
    work_done, solved = newest_solved(session, client_id, now)
    return Census(
        now=counts,
        before=previous,
        lines=lines,
        aging=aging,
        work_done=work_done,
        solved=solved,
        deals_won=session.scalar(select(func.count()).where(*won_sql(client_id, now))),
        renewals_due=session.scalar(_count(renewals_sql(client_id, now))),
        open_quotes=session.scalar(_count(quotes_sql(client_id, now))),
        first_lines=first,
    )


# --- flags ---------------------------------------------------------------------------


def flagged(client_id: int, scope: Scope, *, cte: bool = False):
    """The client's threads that raise a flag at the scope's moment, ranked
    (crm.flags.ranking): a subquery (or with `cte` a common table expression)
    of id, type, key, severity (its index in SEVERITIES), since, kind (its
    index in KINDS), the title a flag shows, device, due_at, amount and
    currency."""
    rank = rank_sql(scope.as_of, scope.settings, present=scope.present)
    found = select(
        Entity.id,
        Entity.type,
        Entity.key,
        rank.severity.label("severity"),
        rank.since.label("since"),
        rank.kind.label("kind"),
        *_TOLD,
    ).where(Entity.client_id == client_id, rank.flagged)
    return found.cte("flagged") if cte else found.subquery("flagged")


# the flag's title: the thread's, else its type and key (a critical alert's)
_TITLE = case(
    (func.coalesce(Entity.title, "") == "", literal("Alert ") + Entity.key),
    else_=Entity.title,
)
# what a flag's line tells: its title, a critical alert's device, an overdue invoice's amount
_TOLD = (_TITLE.label("title"), Entity.device, Entity.due_at, Entity.amount, Entity.currency)
# flagged()'s columns
_FLAGGED = ("id", "type", "key", "severity", "since", "kind", "title", "device", "due_at")
_FLAGGED += ("amount", "currency")


def flag_lines(client_id: int, scope: Scope):
    """flagged() with each line's place in its group (`n`, 1 for the line's
    own thread) and the group's size (`members`): the critical alerts of one
    check (the title) on one device are one line, told at its longest-waiting
    alert (reports.briefing.bounds.group_alerts); any other flag is its own.

    Only the critical alerts are numbered in their groups: a window over
    every flag sorted a busy client's 40,000 by a key computed for each. The
    flags are ranked once (a CTE, which both parts read)."""
    return _lines_of(flagged(client_id, scope, cte=True))


def _lines_of(f):
    """flag_lines of `f`, a selectable with flagged()'s columns."""
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
    session: Session, client_id: int, now: Scope, before: Scope, limit: int = SHOWN_FLAGS
) -> tuple[Counter, Counter, int, dict, list]:
    """(kind, severity) -> the flags at `now` and at `before` (the start of
    the period): the threads', the recurring alerts' and what each period
    settled; how many lines those of `now` are listed in (as flag_lines
    groups them); its overdue invoices per aging bucket: how many, and their
    amounts per currency (reports.briefing.flags.aging_summary's figures);
    and its first `limit` lines, ranked (flag_lines' rows, which
    reports.briefing.shown.pick picks from).

    One pass over the client's threads ranks each at both moments (a busy
    client's 390,000 threads were read once for each, and once more for the
    lines), and one over those closed in the two periods counts what each
    settled."""
    at_now = rank_sql(now.as_of, now.settings, present=now.present)
    at_before = rank_sql(before.as_of, before.settings, present=before.present)
    # each rank once per thread: the two moments' flags as columns of a
    # common table expression, which the counts and the lines both read
    ranked = (
        select(
            Entity.id,
            Entity.type,
            Entity.key,
            at_now.flagged.label("now"),
            at_now.severity.label("severity"),
            at_now.since.label("since"),
            at_now.kind.label("kind"),
            at_before.flagged.label("before"),
            at_before.severity.label("severity_before"),
            at_before.kind.label("kind_before"),
            *_TOLD,
        )
        .where(Entity.client_id == client_id, or_(_open(now), _open(before)))
        .cte("ranked")
    )
    r = ranked.c
    critical = and_(r.now, r.kind == CRITICAL_ALERT)
    overdue = and_(r.now, r.kind == OVERDUE_INVOICE)
    # a critical alert's group (its check and device), an overdue invoice's
    # bucket and currency; none for any other flag
    grouped = select(
        case((r.now, r.severity)).label("severity"),
        case((r.now, r.kind)).label("kind"),
        case((r.before, r.severity_before)).label("severity_before"),
        case((r.before, r.kind_before)).label("kind_before"),
        case((critical, r.title)).label("title"),
        case((critical, r.device)).label("device"),
        case((overdue, aging_bucket_sql(r.due_at, now.as_of))).label("bucket"),
        case((overdue, r.currency)).label("currency"),
        r.amount,
    ).where(or_(r.now, r.before))
    g = grouped.subquery().c
    by = (g.severity, g.kind, g.severity_before, g.kind_before, g.title, g.device)
    by += (g.bucket, g.currency)
    shown = _lines_of(select(*(r[name] for name in _FLAGGED)).where(r.now).subquery("flagged_now"))
    first = (
        select(shown)
        .where(shown.c.n == 1)
        .order_by(shown.c.severity, shown.c.since, shown.c.kind, shown.c.id)
        .limit(limit)
        .subquery("first_lines")
    )
    f = first.c
    # one statement: the first lines (typed, first), then the counts
    nothing = (null(),) * 4
    lines_part = select(
        literal(1).label("part"),
        *(f[name] for name in ("severity", "kind")),
        null().label("severity_before"),
        null().label("kind_before"),
        f.title,
        f.device,
        null().label("bucket"),
        null().label("currency"),
        null().label("count"),
        type_coerce(null(), Entity.amount.type).label("amount"),
        *(f[name] for name in ("id", "type", "key", "since", "members")),
    )
    counts_part = select(
        literal(0), *by, func.count(), func.sum(g.amount), *nothing, null()
    ).group_by(*by)
    counts: tuple[Counter, Counter] = (Counter(), Counter())
    listed, groups, aging, lines = 0, set(), {}, []
    for row in session.execute(union_all(lines_part, counts_part)):
        if row.part == 1:
            lines.append(row)
            continue
        if row.kind_before is not None:
            counts[1][(KIND_NAMES[row.kind_before], SEVERITIES[row.severity_before])] += row.count
        if row.kind is None:
            continue
        counts[0][(KIND_NAMES[row.kind], SEVERITIES[row.severity])] += row.count
        if row.title is None:
            listed += row.count
        else:  # a line per group, whatever its threads were at `before`
            groups.add((row.severity, row.kind, row.title, row.device))
        if row.bucket is not None:
            invoices, totals = aging.get(row.bucket, (0, {}))
            if row.amount is not None:
                totals[row.currency or ""] = totals.get(row.currency or "", 0) + row.amount
            aging[row.bucket] = (invoices + row.count, totals)
    others = 0
    for number, scope in enumerate((now, before)):
        recurring = _recurring_count(session, client_id, scope)
        counts[number][(Recurrence.kind, Recurrence.severity)] += recurring
        others += recurring if number == 0 else 0
    for number, settled in enumerate(settled_counts(session, client_id, now, before)):
        for flag, count in zip(SETTLED, settled, strict=True):
            counts[number][flag] += count
            others += count if number == 0 else 0
    # +counts: without the kinds none raised
    lines.sort(key=lambda row: (row.severity, row.since, row.kind, row.id))
    return +counts[0], +counts[1], listed + len(groups) + others, aging, lines


def _open(scope: Scope):
    return open_sql(scope.as_of, present=scope.present)


def settled_counts(
    session: Session, client_id: int, now: Scope, before: Scope
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """What the period and the one before settled that a briefing flags low
    (settled_sql), counted in one pass over the threads closed in the two."""
    conditions = [*settled_sql(client_id, now), *settled_sql(client_id, before)]
    counted = session.execute(
        select(*(func.count().filter(condition) for condition in conditions))
        .select_from(Entity)
        .where(
            Entity.client_id == client_id,
            Entity.closed_at > min(now.period_start, before.period_start),
            Entity.closed_at <= max(now.as_of, before.as_of),
        )
    ).one()
    half = len(conditions) // 2
    return tuple(counted[:half]), tuple(counted[half:])


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
    # the invoices a payment failed on in the period, found once (a hashed
    # set on PostgreSQL), not looked up for each invoice closed in it (a busy
    # client's 18,000 a quarter)
    failed_in_period = Entity.key.in_(
        select(Event.thread_key).where(
            Event.client_id == client_id,
            Event.thread_type == "invoice",
            Event.kind == "payment.failed",
            Event.occurred_at > start,
            Event.occurred_at <= as_of,
        )
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
