"""A client's events and thread states as DataFrames: the only reads a briefing makes.

One query for events, one for entities and one counting the events of the
chart months (besides reading the client and finding its last meeting);
everything else is pandas over these frames, in pure functions that tests
feed hand-built frames of the same columns.

The events frame holds what the briefing's figures need up to `as_of`:
every event since the start of the previous period; before it, the alerts
raised since those checked for recurrence, the campaigns' events since the
campaigns looked back on, and the older events of the threads it looks at,
so a ticket opened two years ago still traces to its events. (A client with
200,000 events a year has some 50,000 in the ninety days of campaigns, of
which the campaigns are a few hundred.) The twelve-month charts only count events by month,
source and kind: the months frame has those counts, read by the database,
as a year of events one by one would cost most of a briefing. The entities
frame holds the threads open at the start of the previous period or closed
since (alerts: open at the start of this period or later; a closed alert is
never flagged, and the recurrence of alerts is read from their events).

What lies ahead counts whatever its opened time (crm.flags): the renewals
and quotes not settled by then are in the entities frame even when their
records date them after `as_of` (a renewal dated at its renewal day), and
their events after `as_of` close the events frame, which is otherwise cut
there: whatever reads the frame for the period bounds it by `as_of`.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import (
    BigInteger,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType, TypeDecorator

from crm.database import planned_for_their_values
from crm.flags import AHEAD_TYPES
from crm.models import Entity, Event
from crm.vocabulary import KINDS

EVENT_COLUMNS = (
    "id",
    "source",
    "kind",
    "occurred_at",
    "title",
    "amount",
    "currency",
    "thread_type",
    "thread_key",
    "actor",
    "attributes",
)
ENTITY_COLUMNS = (
    "type",
    "key",
    "status",
    "title",
    "opened_at",
    "closed_at",
    "due_at",
    "amount",
    "currency",
    "priority",
    "category",
    "assignee",
    "sla_due_at",
    "last_event_at",
)
# The months frame: `month` is year * 12 + month - 1 (the client's calendar).
MONTH_COLUMNS = ("month", "source", "kind", "count")
EVENT_TIMES = ("occurred_at",)
ENTITY_TIMES = ("opened_at", "closed_at", "due_at", "sla_due_at", "last_event_at")
TIMES = frozenset(EVENT_TIMES + ENTITY_TIMES)
# Read as the driver hands them over and decoded here where not empty: most
# events have no amount, and most carry no attributes (see _events), so
# decoding them row by row, as the models' types would, is mostly wasted.
EVENT_RAW = ("amount", "attributes")
ENTITY_RAW = ("amount",)


@dataclass(frozen=True)
class Frames:
    events: pd.DataFrame
    entities: pd.DataFrame
    months: pd.DataFrame  # MONTH_COLUMNS: events per chart month, source and kind


@dataclass(frozen=True)
class Window:
    """The moments a briefing reads the timeline between."""

    as_of: datetime
    period_start: datetime
    previous_start: datetime  # every event since then
    alerts_since: datetime  # alerts raised since then are checked for recurrence
    campaigns_since: datetime  # campaigns (marketing events) since then are recalled
    # The first moment of each chart month (the client's midnights), oldest
    # first; the last month runs to as_of.
    chart_months: tuple[datetime, ...] = ()

    @property
    def earliest(self) -> datetime:
        """The oldest event any figure but the charts needs."""
        return min(self.previous_start, self.alerts_since, self.campaigns_since)


# Kinds whose attributes the analysis reads (a dispute's reason and deadline, why a
# payment failed, a campaign's id); alerts' attributes only where they can matter.
ATTRIBUTE_KINDS = ("dispute.opened", "dispute.closed", "payment.failed")


def load_frames(session: Session, client_id: int, window: Window) -> Frames:
    """The client's events, thread states and chart counts for a briefing window."""
    with planned_for_their_values(session):
        return Frames(
            events=_events(session, client_id, window),
            entities=_entities(session, client_id, window),
            months=month_counts(session, client_id, window),
        )


def _needed(window: Window):
    """The threads a briefing looks at (see the module's docstring)."""
    return or_(
        Entity.closed_at.is_(None),
        and_(Entity.type != "alert", Entity.closed_at >= window.previous_start),
        and_(Entity.type == "alert", Entity.closed_at > window.period_start),
    )


def _events(session: Session, client_id: int, window: Window):
    # Reading the attributes JSON is most of the cost of a row: only the
    # events whose attributes some flag or point reads carry them.
    open_alert = (
        select(Entity.id)
        .where(
            Entity.client_id == client_id,
            Entity.type == "alert",
            Entity.key == Event.thread_key,
            _needed(window),
        )
        .exists()
    )
    alert = Event.kind == "alert.raised"
    keep = or_(
        Event.kind.in_(ATTRIBUTE_KINDS),
        Event.source == "marketing",
        and_(alert, Event.occurred_at > window.alerts_since),
        and_(alert, open_alert),
    )
    attributes = type_coerce(case((keep, Event.attributes), else_=null()), NullType())
    raw = EVENT_TIMES + EVENT_RAW
    engine = session.get_bind().dialect.name
    columns = [
        attributes.label(name) if name == "attributes" else _column(Event, name, raw, engine)
        for name in EVENT_COLUMNS
    ]
    before = window.previous_start
    recurring = and_(alert, Event.occurred_at >= window.alerts_since)
    campaign = and_(Event.source == "marketing", Event.occurred_at >= window.campaigns_since)
    # Each event at most once: since the previous period all of them; before
    # it the recurring alerts and the campaigns (one range of the timeline
    # index each), then the older events of the threads looked at.
    since_previous = select(*columns).where(
        Event.client_id == client_id,
        Event.occurred_at >= before,
        Event.occurred_at <= window.as_of,
    )
    recurring_alerts = select(*columns).where(
        Event.client_id == client_id,
        Event.occurred_at >= window.alerts_since,
        Event.occurred_at < before,
        alert,
    )
    campaigns = select(*columns).where(
        Event.client_id == client_id,
        Event.occurred_at >= window.campaigns_since,
        Event.occurred_at < before,
        Event.source == "marketing",
    )
    # The events of the threads looked at, beyond those ranges (`where`).
    of_threads = (
        select(*(_column(Event, name, raw, engine) for name in EVENT_COLUMNS))
        .join(
            Entity,
            and_(
                Entity.client_id == Event.client_id,
                Entity.type == Event.thread_type,
                Entity.key == Event.thread_key,
            ),
        )
        .where(Event.client_id == client_id, _needed(window))
    )
    # A thread open for longer than the window still traces to all of its events.
    older_of_open_threads = of_threads.where(
        Event.occurred_at < before,
        # A thread opens with its first event (crm.threads): one opened
        # since has none before. (Most of a busy client's threads.)
        Entity.opened_at < before,
        ~or_(recurring, campaign),
    )
    # What lies ahead: the events the records date after as_of of the
    # renewals and quotes not settled (few threads, each through the thread index).
    ahead = of_threads.where(
        Entity.client_id == client_id,
        Entity.type.in_(AHEAD_TYPES),
        Event.occurred_at > window.as_of,
    )
    rows = _read(
        session,
        union_all(since_previous, recurring_alerts, campaigns, older_of_open_threads, ahead),
    )
    return event_frame(rows, _decoders(session, Event, EVENT_RAW), epoch=engine == "postgresql")


def _entities(session: Session, client_id: int, window: Window):
    engine = session.get_bind().dialect.name
    raw = ENTITY_TIMES + ENTITY_RAW
    columns = [_column(Entity, name, raw, engine) for name in ENTITY_COLUMNS]
    rows = _read(
        session,
        select(*columns).where(
            Entity.client_id == client_id,
            or_(Entity.opened_at <= window.as_of, Entity.type.in_(AHEAD_TYPES)),
            _needed(window),
        ),
    )
    return entity_frame(rows, _decoders(session, Entity, ENTITY_RAW), epoch=engine == "postgresql")


def month_counts(session: Session, client_id: int, window: Window) -> pd.DataFrame:
    """Events per chart month, source and kind, counted by the database."""
    starts = window.chart_months
    if not starts:
        return month_frame([])
    # One range of the timeline index per month, counted by kind alone (the
    # kind names its source): on PostgreSQL that index carries the kind, so
    # the counts never read the events themselves, and a range per month
    # spares every event a search for its month (a CASE of twelve tests cost
    # as much as reading the index).
    ends = [Event.occurred_at < start for start in starts[1:]]
    ends.append(Event.occurred_at <= window.as_of)
    months = [
        select(literal(number).label("month"), Event.kind, func.count())
        .where(Event.client_id == client_id, Event.occurred_at >= start, before_end)
        .group_by(Event.kind)
        for number, (start, before_end) in enumerate(zip(starts, ends, strict=True))
    ]
    rows = _read(session, union_all(*months))
    numbers = [start.year * 12 + start.month - 1 for start in starts]
    return month_frame(
        [(numbers[month], KINDS[kind].source, kind, count) for month, kind, count in rows]
    )


def _read(session: Session, statement) -> list:
    """The statement's rows, run as Core on the session's connection: through
    the session, the ORM handles every row of a select of its models'
    columns too (a sixth of the time of reading 7,000 threads)."""
    return session.connection().execute(statement).all()


def month_frame(rows) -> pd.DataFrame:
    """Counts as (month, source, kind, count) rows (reports.briefing.numbers)."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in MONTH_COLUMNS]
    return pd.DataFrame(
        {
            name: pd.Series(column, dtype="int64" if name in ("month", "count") else object)
            for name, column in zip(MONTH_COLUMNS, values, strict=True)
        }
    )


def _column(model, name: str, raw: tuple[str, ...], dialect_name: str):
    """A column to select; those of `raw` as the driver hands them over, for
    pandas to convert a whole column at once, far faster than the model's
    type converts values one by one. Times so: SQLite's UTC text as it is,
    PostgreSQL's as microseconds since 1970 (an aware datetime per value
    costs pandas a microsecond to take apart; an integer nothing)."""
    column = getattr(model, name)
    if name in raw and name in TIMES and dialect_name == "postgresql":
        return cast(func.extract("epoch", column) * 1_000_000, BigInteger).label(name)
    return type_coerce(column, NullType()).label(name) if name in raw else column


def _decoders(session: Session, model, names: tuple[str, ...]) -> dict[str, Callable]:
    """What the models' types would do to each raw value of these columns, per name."""
    dialect = session.get_bind().dialect
    decoders = {}
    for name in names:
        column_type = getattr(model, name).type
        if isinstance(column_type, TypeDecorator):
            # Money: the drivers hand over what it decodes (SQLite an integer,
            # psycopg a Decimal), with nothing for its underlying type to do.
            decoders[name] = functools.partial(column_type.process_result_value, dialect=dialect)
            continue
        decode = column_type.dialect_impl(dialect).result_processor(dialect, None)
        if decode is not None:  # JSON text on SQLite; psycopg decodes JSONB itself
            decoders[name] = decode
    return decoders


def event_frame(
    rows, decoders: dict[str, Callable] | None = None, epoch: bool = False
) -> pd.DataFrame:
    """Events as a frame (tests build theirs with this too): times UTC, amounts
    Decimal. `epoch`: times come as microseconds since 1970 (see _column)."""
    frame = _frame(rows, EVENT_COLUMNS, EVENT_TIMES, decoders, epoch)
    frame["attributes"] = [value or {} for value in frame["attributes"].tolist()]
    # The analysis picks events by kind over and over: compared as strings
    # each pick cost a millisecond at 20,000 events, as categories nothing.
    frame["kind"] = frame["kind"].astype("category")
    return frame.sort_values(["occurred_at", "id"], kind="stable", ignore_index=True)


def entity_frame(
    rows, decoders: dict[str, Callable] | None = None, epoch: bool = False
) -> pd.DataFrame:
    return _frame(rows, ENTITY_COLUMNS, ENTITY_TIMES, decoders, epoch)


def _frame(
    rows,
    columns: tuple[str, ...],
    times: tuple[str, ...],
    decoders: dict[str, Callable] | None = None,
    epoch: bool = False,
) -> pd.DataFrame:
    """Columns of Python values with None for missing ones (pandas would make
    text columns `str` with NaN), so the analysis can say `value or default`;
    times as UTC datetimes (text without an offset is UTC, as crm.models.types
    stores it on SQLite). Built column by column: DataFrame.from_records followed
    by that conversion costs ten times as much on a small frame."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    for name, decode in (decoders or {}).items():
        at = columns.index(name)
        values[at] = [value if value is None else decode(value) for value in values[at]]
    return pd.DataFrame(
        {
            name: _times(column, epoch)
            if name in times
            else pd.Series(column, dtype="int64" if name == "id" else object)
            for name, column in zip(columns, values, strict=True)
        }
    )


def _times(values, epoch: bool) -> pd.Series:
    if epoch:  # microseconds, exact as floats until the year 2255
        return pd.to_datetime(pd.Series(values, dtype="float64"), unit="us", utc=True)
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
