"""The threads a briefing shows, picked in the database and read whole.

reports.briefing.census counts every flag; what the briefing explains is
its first SHOWN_FLAGS lines (reports.briefing.bounds) and the newest
SHOWN_POINTS of each talking point. Those are picked here by the same
ranking in SQL (crm.flags.ranking: most severe, then longest waiting; the
critical alerts of one check on one device one line, told at the oldest),
and their threads are read with every event, as reports.briefing.frames
would hold them, into frames small enough that reports.briefing.flags and
.talking_points explain them as they would explain the whole: the flags and
points they find are the ones picked, with the same words and events.

The first renewals due and quotes open are read so too (crm.flags.ahead);
the campaigns are counted by the database (reports.briefing.census).
"""

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import and_, case, false, null, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from crm.flags import RECURRING_WINDOW, recurring_with_thread_sql
from crm.flags.recurring import _text
from crm.flags.severity import SEVERITIES
from crm.models import Entity, Event
from reports.briefing.census import (
    CRITICAL_ALERT,
    KIND_NAMES,
    SETTLED,
    flag_lines,
    quotes_sql,
    renewals_sql,
    settled_sql,
    won_sql,
)
from reports.briefing.frames import (
    ATTRIBUTE_KINDS,
    ENTITY_COLUMNS,
    ENTITY_RAW,
    ENTITY_TIMES,
    EVENT_COLUMNS,
    EVENT_RAW,
    EVENT_TIMES,
    Frames,
    _column,
    _decoders,
    _read,
    entity_frame,
    event_frame,
    month_frame,
)
from reports.briefing.model import GROUPED_IDS, SHOWN_FLAGS, SHOWN_POINTS
from reports.briefing.snapshot import Scope


@dataclass
class Picked:
    """What a briefing shows: its flag lines' threads, and what else it reads."""

    threads: set = field(default_factory=set)  # (type, key) of the flags shown
    settled: set = field(default_factory=set)  # (type, key) of the settled flags shown
    recurrences: set = field(default_factory=set)  # (instance, alertname) shown
    sizes: dict = field(default_factory=dict)  # (title, device) -> alerts in a grouped line
    members: set = field(default_factory=set)  # (type, key) of a grouped line's first alerts
    read: set = field(default_factory=set)  # (type, key) of every thread to read whole

    def shows(self, flag) -> bool:
        if flag.kind == "recurring_alert":
            return flag.title in {f"{check} on {device}" for device, check in self.recurrences}
        thread = (flag.thread_type, flag.thread_key)
        return thread in (self.settled if flag.settled else self.threads | self.members)


def pick(
    session: Session, client_id: int, scope: Scope, first: list, limit: int = SHOWN_FLAGS
) -> Picked:
    """The first `limit` flag lines at the scope's moment, as reports.briefing.flags
    ranks them (the settled last), with each grouped line's first members:
    of the threads', those `first` (reports.briefing.census.flag_counts'
    first lines, ranked in the pass that counts them)."""
    lines = flag_lines(client_id, scope)
    candidates = []
    for row in first[:limit]:
        candidates.append(((0, row.severity, row.since, row.kind, row.id), "thread", row))
    recurring = recurring_with_thread_sql(scope.as_of, Event.client_id == client_id)
    high, position = SEVERITIES.index("high"), KIND_NAMES.index("recurring_alert")
    for number, row in enumerate(
        session.execute(
            select(recurring)
            .order_by(
                recurring.c.first,
                recurring.c.times.desc(),
                recurring.c.instance,
                recurring.c.alertname,
            )
            .limit(limit)
        )
    ):
        candidates.append(((0, high, row.first, position, number), "recurring", row))
    low = SEVERITIES.index("low")
    for (kind, _), where in zip(SETTLED, settled_sql(client_id, scope), strict=True):
        rows = session.execute(
            select(Entity.id, Entity.type, Entity.key, Entity.closed_at)
            .where(where)
            .order_by(Entity.closed_at, Entity.id)
            .limit(limit)
        )
        for row in rows:
            rank = (1, low, row.closed_at, KIND_NAMES.index(kind), row.id)
            candidates.append((rank, "settled", row))
    picked = Picked()
    groups = []
    for _, what, row in sorted(candidates, key=lambda candidate: candidate[0])[:limit]:
        if what == "recurring":
            picked.recurrences.add((row.instance, row.alertname))
            if row.last_thread_key:
                picked.read.add(("alert", row.last_thread_key))
            continue
        thread = (row.type, row.key)
        (picked.settled if what == "settled" else picked.threads).add(thread)
        picked.read.add(thread)
        if what == "thread" and row.kind == CRITICAL_ALERT and row.members > 1:
            picked.sizes[(row.title, row.device)] = row.members
            groups.append(
                and_(lines.c.title == row.title, lines.c.device.is_not_distinct_from(row.device))
            )
    if groups:
        members = session.execute(
            select(lines.c.type, lines.c.key).where(
                lines.c.kind == CRITICAL_ALERT, lines.c.n <= GROUPED_IDS, or_(*groups)
            )
        )
        picked.members = {(row.type, row.key) for row in members}
        picked.read |= picked.members
    return picked


def shown_frames(
    session: Session, client_id: int, scope: Scope, picked: Picked, solved: list[str]
) -> Frames:
    """The frames reports.briefing.flags and .talking_points explain what a
    briefing shows from: the picked threads and the newest solved tickets
    (`solved`, their keys: reports.briefing.census.newest_solved) and won
    deals, whole; the first renewals and quotes ahead; and the alerts the
    picked recurrences were counted from."""
    as_of = scope.as_of
    threads = set(picked.read) | {("ticket", key) for key in solved}
    won = session.execute(
        select(Event.id, Event.thread_type, Event.thread_key)
        .where(*won_sql(client_id, scope))
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(SHOWN_POINTS)
    ).all()
    threads |= {(row.thread_type, row.thread_key) for row in won if row.thread_key}
    # the first renewals and quotes ahead, in the order talking_points tells them
    for ahead, order in (
        (renewals_sql(client_id, scope), (Entity.due_at, Entity.id)),
        (quotes_sql(client_id, scope), (Entity.opened_at, Entity.key)),
    ):
        first = select(Entity.type, Entity.key).where(ahead).order_by(*order).limit(SHOWN_POINTS)
        threads |= {(row.type, row.key) for row in session.execute(first)}
    entities = _entities(session, _threads(Entity.type, Entity.key, threads), client_id)
    instance, alertname = _text("instance"), _text("alertname")
    events = _events(
        session,
        client_id,
        or_(
            _threads(Event.thread_type, Event.thread_key, threads),
            Event.id.in_([row.id for row in won]),
            and_(
                Event.kind == "alert.raised",
                Event.occurred_at > as_of - RECURRING_WINDOW,
                Event.occurred_at <= as_of,
                or_(false(), *(and_(instance == d, alertname == c) for d, c in picked.recurrences)),
            ),
        ),
    )
    return Frames(events=events, entities=entities, months=month_frame([]))


def _threads(type_column, key_column, threads: set):
    """The threads of `threads` ((type, key) pairs), as a condition: one IN per type."""
    keys = defaultdict(list)
    for thread_type, key in threads:
        keys[thread_type].append(key)
    return or_(false(), *(and_(type_column == t, key_column.in_(k)) for t, k in keys.items()))


def _entities(session: Session, where, client_id: int) -> pd.DataFrame:
    engine = session.get_bind().dialect.name
    columns = [_column(Entity, name, ENTITY_TIMES + ENTITY_RAW, engine) for name in ENTITY_COLUMNS]
    rows = _read(session, select(*columns).where(Entity.client_id == client_id, where))
    return entity_frame(rows, _decoders(session, Entity, ENTITY_RAW), epoch=engine == "postgresql")


def _events(session: Session, client_id: int, where) -> pd.DataFrame:
    engine = session.get_bind().dialect.name
    # the attributes reports.briefing.frames keeps, and only those (an alert's
    # device is the latest its raises name)
    keep = or_(
        Event.kind.in_(ATTRIBUTE_KINDS), Event.source == "marketing", Event.kind == "alert.raised"
    )
    attributes = type_coerce(case((keep, Event.attributes), else_=null()), NullType())
    columns = [
        attributes.label(name)
        if name == "attributes"
        else _column(Event, name, EVENT_TIMES + EVENT_RAW, engine)
        for name in EVENT_COLUMNS
    ]
    rows = _read(session, select(*columns).where(Event.client_id == client_id, where))
    frame = event_frame(rows, _decoders(session, Event, EVENT_RAW), epoch=engine == "postgresql")
    return frame.drop_duplicates("id", ignore_index=True)
