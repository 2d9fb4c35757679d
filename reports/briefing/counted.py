"""The period's figures and its campaigns, counted by the database.

reports.briefing.numbers tells the period from a Tally (events per kind,
amounts per kind and currency) and the times its alerts took to clear, and
reports.briefing.talking_points tells campaigns from what each one's events
add up to. For a briefing of the whole frames those come from pandas; for a
busy client's briefing (half a million events in its two periods, tens of
thousands of campaign deliveries) the database adds them up here, and only
the sums travel (tests/test_briefing_demo.py and test_bounded_briefing.py
hold the two equal). The events per kind, of the chart's months as of the
periods, come from the daily cache crm.day_counts keeps, and only the
hours at their edges from the events.
"""

from collections import Counter
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from crm.day_counts import Cut, between, kinds_at
from crm.flags.recurring import _text
from crm.models import Event
from crm.vocabulary import KINDS, kinds_of
from reports.briefing.frames import Window, month_frame
from reports.briefing.numbers import ALERT_FLOW, MONEY_KINDS, Tally, median
from reports.briefing.snapshot import Scope
from reports.briefing.talking_points import CAMPAIGN_IDS, CAMPAIGN_WINDOW, Campaign


def kind_counts(session: Session, client_id: int, window: Window) -> dict[Cut, Counter]:
    """The client's events per kind up to each edge of the chart's months and
    of the two periods, from the daily cache (crm.day_counts): a busy
    client's year is some 6,000 rows there, where the events were a million
    index entries (0.4 s for the months, 0.3 s again for the periods)."""
    return kinds_at(session, client_id, [cut for cuts in _cuts(window).values() for cut in cuts])


def _cuts(window: Window) -> dict[str, list[Cut]]:
    """The months run from their first moment to the next's (the last to
    as_of, inclusive); the periods from just after their start to their end."""
    months = [Cut(start) for start in window.chart_months] + [Cut(window.as_of, through=True)]
    periods = [Cut(moment, through=True) for moment in (window.previous_start, window.period_start)]
    return {"months": months if window.chart_months else [], "periods": periods}


def month_counts(counted: dict[Cut, Counter], window: Window) -> pd.DataFrame:
    """reports.briefing.frames.month_counts from kind_counts' counts."""
    cuts = _cuts(window)["months"]
    rows = []
    for start, first, end in zip(window.chart_months, cuts, cuts[1:], strict=False):
        number = start.year * 12 + start.month - 1
        for kind, count in sorted(between(counted, first, end).items()):
            rows.append((number, KINDS[kind].source, kind, count))
    return month_frame(rows)


def period_tallies(
    session: Session, client_id: int, window: Window, counted: dict[Cut, Counter]
) -> tuple[Tally, Tally]:
    """reports.briefing.numbers.tally of the events in (period_start, as_of]
    and in (previous_start, period_start]: the counts by kind from
    kind_counts', the billing kinds' amounts per currency summed by the
    database in one pass."""
    previous_start, start, end = window.previous_start, window.period_start, window.as_of
    now = case((Event.occurred_at > start, 1), else_=0).label("now")
    between_ = (
        Event.client_id == client_id,
        Event.occurred_at > previous_start,
        Event.occurred_at <= end,
    )
    billed = (
        select(Event.kind, Event.currency, Event.amount, now)
        .where(*between_, Event.kind.in_(tuple(MONEY_KINDS)), Event.amount.is_not(None))
        .subquery()
    )
    money = session.execute(
        select(billed.c.now, billed.c.kind, billed.c.currency, func.sum(billed.c.amount)).group_by(
            billed.c.now, billed.c.kind, billed.c.currency
        )
    )
    edges = [Cut(moment, through=True) for moment in (previous_start, start, end)]
    tallies = (
        Tally(between(counted, edges[0], edges[1]), {}),
        Tally(between(counted, edges[1], edges[2]), {}),
    )  # before, now
    for in_period, kind, currency, amount in money:
        tallies[in_period].money[(kind, currency)] = amount
    return tallies[1], tallies[0]


def times_to_resolve(
    session: Session, client_id: int, start: datetime, end: datetime
) -> tuple[int, timedelta | None]:
    """reports.briefing.numbers.times_to_resolve in SQL: for each alert that
    cleared in (start, end], the time since the last raise of its thread at
    or before it cleared; one cleared without a raise on record is left out."""
    raise_ = Event.__table__.alias("raise_")
    raised_at = (
        select(func.max(raise_.c.occurred_at))
        .where(
            raise_.c.client_id == client_id,
            raise_.c.thread_type == Event.thread_type,
            raise_.c.thread_key == Event.thread_key,
            raise_.c.kind == ALERT_FLOW[0],
            raise_.c.occurred_at <= Event.occurred_at,
        )
        .scalar_subquery()
    )
    cleared = (
        Event.client_id == client_id,
        Event.kind == ALERT_FLOW[1],
        Event.thread_key.is_not(None),
        Event.occurred_at > start,
        Event.occurred_at <= end,
    )
    # A busy client clears tens of thousands of alerts a quarter: on
    # PostgreSQL the database subtracts, sorts and hands over only the middle
    # one or two (two datetimes decoded per alert cost ten times the query).
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        rows = connection.execute(select(Event.occurred_at, raised_at).where(*cleared))
        durations = [moment - raised for moment, raised in rows if raised is not None]
        return len(durations), median(durations)
    # The raise is looked up once per clearing, in a subquery of its own: a
    # filter on the difference in the same SELECT made PostgreSQL look it up
    # twice, and the doubled cost estimate tipped the query past the server's
    # JIT thresholds (some 0.7 s of compiling for a 0.3 s query). Each look-up
    # is the newest raise by ix_events_client_thread (migration 0026).
    took = type_coerce(Event.occurred_at, NullType()) - type_coerce(raised_at, NullType())
    # OFFSET 0 keeps the subquery whole (PostgreSQL would otherwise pull the
    # expression up into the filter and the window, and look up twice again)
    each = select(took.label("took")).where(*cleared).offset(0).subquery("each")
    spans = select(each.c.took).where(each.c.took.is_not(None)).subquery("spans")
    placed = select(
        spans.c.took,
        func.count().over().label("n"),
        func.row_number().over(order_by=spans.c.took).label("place"),
    ).subquery("placed")
    middle = connection.execute(
        select(placed.c.took, placed.c.n).where(
            or_(placed.c.place == (placed.c.n + 1) // 2, placed.c.place == placed.c.n // 2 + 1)
        )
    ).all()
    if not middle:
        return 0, None
    return middle[0].n, median([row.took for row in middle])


def campaigns(
    session: Session, client_id: int, scope: Scope, limit: int
) -> tuple[list[Campaign], int]:
    """The newest `limit` campaigns talking_points tells (reports.briefing.
    talking_points.campaigns), told from what the database counts of their
    events, and how many there are: a busy client's campaigns are tens of
    thousands of deliveries and opens, which the points only count."""
    since = min(scope.period_start, scope.as_of - CAMPAIGN_WINDOW)
    # which campaign an event belongs to: its thread, its `campaign`, its subject
    key = func.coalesce(
        func.nullif(Event.thread_key, ""), func.nullif(_text("campaign"), ""), Event.title
    )
    m = (
        select(key.label("key"), Event.id, Event.kind, Event.title, Event.occurred_at)
        .add_columns(Event.thread_key)
        .where(
            Event.client_id == client_id,
            # by kind (each names its source): a range of the kind index each
            Event.kind.in_(kinds_of("marketing")),
            Event.occurred_at > since,
            Event.occurred_at <= scope.as_of,
        )
        .subquery("marketing")
        .c
    )

    def per_campaign(expression, **over):
        return expression.over(partition_by=m.key, **over)

    def counted(kind: str):
        return per_campaign(func.sum(case((m.kind == kind, 1), else_=0)))

    unsent = case((m.kind == "campaign.sent", 0), else_=1)
    ranked = (
        select(
            m.key,
            m.id,
            m.title,
            m.occurred_at,
            # 1: its first sending, or its first event when none was sent
            per_campaign(func.row_number(), order_by=(unsent, m.occurred_at, m.id)).label("n"),
            per_campaign(func.row_number(), order_by=(m.occurred_at, m.id)).label("place"),
            per_campaign(func.min(m.occurred_at)).label("began"),
            counted("campaign.sent").label("sent"),
            counted("email.opened").label("opened"),
            counted("email.clicked").label("clicked"),
            per_campaign(func.max(case((m.thread_key.is_not(None), 1), else_=0))).label("threaded"),
        )
        .where(m.key.is_not(None))
        .cte("ranked")
    )
    r = ranked.c
    # One statement, the campaigns ranked once: the newest `limit` (and, by
    # a window before the LIMIT, how many there are), each joined to its
    # first CAMPAIGN_IDS events. Three statements over the subquery ranked
    # a busy client's 26,000 deliveries three times (0.5 s of 2.4).
    firsts = (
        select(ranked, func.count().over().label("total"))
        .where(r.n == 1)
        .order_by(r.occurred_at.desc(), r.began, r.key)
        .limit(limit)
        .subquery("newest")
    )
    f, events = firsts.c, ranked.alias("first_events")
    e = events.c
    rows = session.execute(
        select(f, e.id.label("event_id"))
        .join_from(firsts, events, and_(e.key == f.key, e.place <= CAMPAIGN_IDS), isouter=True)
        .order_by(f.occurred_at.desc(), f.began, f.key, e.place)
    ).all()
    found: dict[str, Campaign] = {}
    for row in rows:
        if row.key not in found:
            told = (row.sent, row.opened, row.clicked, bool(row.threaded), [])
            found[row.key] = Campaign(row.key, row.title, row.occurred_at, *told)
        if row.event_id is not None:
            found[row.key].event_ids.append(row.event_id)
    total = rows[0].total if rows else 0
    return list(found.values()), total
