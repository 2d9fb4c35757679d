"""A client's events counted per calendar day (UTC) and kind, and kept so.

A briefing counts a busy client's year by kind (its charts, a million
events) and its two periods (half a million): read from the events, each
count was an index entry per event, some 0.4 s a year on PostgreSQL. The
same counts are kept per client, UTC day and kind in `day_counts` (a cache
of the events, never a rule of its own): `record` adds the events a write
inserts, `rebuild` recomputes it all from the events (the migration that made
it; the doors that write events reach both through crm.event_caches).
`kinds_at` counts up to any moments from the whole days there and only the
hours between each moment and its nearer midnight from the events: a year is
some 6,000 rows, whatever the client holds.

Events are never changed or deleted but with their client (the cache's rows
go with it, ON DELETE CASCADE); a future door that moves or deletes events
must `rebuild` or correct the cache in the same transaction (as crm.collected).
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, case, func, literal, select, text, union_all
from sqlalchemy.orm import Session

from crm.database import add_up
from crm.models import DayCount, Event

DAY = timedelta(days=1)


def day_of(moment: datetime) -> date:
    """`moment`'s calendar day in UTC."""
    return moment.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- keeping the cache -----------------------------------------------------------------


def record(session: Session, rows: Iterable[tuple]) -> None:
    """Add newly inserted events, (client_id, kind, occurred_at, amount,
    currency) each (crm.event_caches' rows), to the cache, in the transaction
    that inserted them: added, not recomputed, and upserted in key order, as
    crm.collected.record does and for its reasons."""
    counts: Counter = Counter(
        (client_id, day_of(occurred_at), kind) for client_id, kind, occurred_at, *_ in rows
    )
    if not counts:
        return
    values = [
        {"client_id": key[0], "day": key[1], "kind": key[2], "events": n}
        for key, n in sorted(counts.items())
    ]
    add_up(session, DayCount.__table__, ("client_id", "day", "kind"), values)


def rebuild(connection: Connection) -> int:
    """Recompute the whole cache from the events; the rows written."""
    connection.execute(DayCount.__table__.delete())
    if connection.dialect.name == "postgresql":
        day = "(occurred_at AT TIME ZONE 'UTC')::date"
    else:
        day = "date(occurred_at)"
    result = connection.execute(
        text(
            "INSERT INTO day_counts (client_id, day, kind, events)"
            f" SELECT client_id, {day}, kind, count(*) FROM events"
            f" GROUP BY client_id, {day}, kind"
        )
    )
    return result.rowcount


# --- reading it ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """A moment that parts a client's events: those before it, and with
    `through` those at it too, from those after."""

    at: datetime
    through: bool = False


def kinds_at(session: Session, client_id: int, cuts: Iterable[Cut]) -> dict[Cut, Counter]:
    """For each cut, the client's events before it per kind, counted from
    one midnight for all (so, for a cut before it, less than none): what
    lies between two cuts is the difference of theirs (`between`).

    Whole days from the cache; the rest of a cut's day from the events, on
    the side of its nearer midnight (added up to the cut from the midnight
    before it, or taken away from the cut to the midnight after): at most
    twelve hours of events per cut, one range of the timeline index each."""
    plans = []  # (cut, the first day not counted from the cache, sign, edge range)
    for cut in set(cuts):
        day = day_of(cut.at)
        before, after = _midnight(day), _midnight(day) + DAY
        if cut.at - before <= after - cut.at:
            edge = (Event.occurred_at >= before, _up_to(cut))
            plans.append((cut, day, 1, edge))
        else:
            edge = (~_up_to(cut), Event.occurred_at < after)
            plans.append((cut, day + DAY, -1, edge))
    if not plans:
        return {}
    # The cached days between consecutive plans' first days, added up by
    # the database (a year's 6,000 rows are a dozen spans of 17 kinds).
    untils = sorted({plan[1] for plan in plans})
    span = case(
        *((DayCount.day < until, number) for number, until in enumerate(untils)),
        else_=len(untils),
    ).label("span")
    cached = (
        select(span, DayCount.kind, func.sum(DayCount.events))
        .where(
            DayCount.client_id == client_id,
            DayCount.day >= untils[0],
            DayCount.day < untils[-1],
        )
        .group_by(span, DayCount.kind)
    )
    connection = session.connection()
    spans: dict[int, Counter] = defaultdict(Counter)
    for number, kind, n in connection.execute(cached):
        spans[number][kind] += int(n)
    edges: dict[int, Counter] = defaultdict(Counter)
    parts = [
        select(literal(number).label("edge"), Event.kind, func.count())
        .where(Event.client_id == client_id, *edge)
        .group_by(Event.kind)
        for number, (_, _, _, edge) in enumerate(plans)
    ]
    for number, kind, n in connection.execute(union_all(*parts)):
        edges[number][kind] = n
    # the days before each first day: the spans before it, added up in order
    before: dict[date, Counter] = {}
    counts: Counter = Counter()
    for number, until in enumerate(untils):
        counts.update(spans[number])  # span 0 is before the first: none read
        before[until] = Counter(counts)
    found = {}
    for number, (cut, until, sign, _) in enumerate(plans):
        found[cut] = Counter(before[until])
        if sign > 0:
            found[cut].update(edges[number])
        else:
            found[cut].subtract(edges[number])
    return found


def between(counted: dict[Cut, Counter], start: Cut, end: Cut) -> dict[str, int]:
    """The events per kind from `start` to `end` (kinds_at's counts of both);
    only the kinds that have some."""
    difference = Counter(counted[end])
    difference.subtract(counted[start])
    return {kind: n for kind, n in difference.items() if n > 0}


def _up_to(cut: Cut):
    return Event.occurred_at <= cut.at if cut.through else Event.occurred_at < cut.at


def recounted(session: Session, client_id: int, start: Cut, end: Cut) -> dict[str, int]:
    """The events per kind from `start` to `end` read from the events alone,
    as `between` answers it: for checking the cache against (tests)."""
    query = (
        select(Event.kind, func.count())
        .where(Event.client_id == client_id, ~_up_to(start), _up_to(end))
        .group_by(Event.kind)
    )
    return dict(session.execute(query).all())
