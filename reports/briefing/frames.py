"""A client's events and thread states as two DataFrames: the only reads a briefing makes.

One query for events and one for entities (besides reading the client and
finding its last meeting); everything else is pandas over these frames, in
pure functions that tests feed hand-built frames of the same columns.

The events frame holds what the briefing window needs: from `earliest`
(the start of the previous period or of the twelve-month charts, whichever is
older) up to `as_of`, plus the older events of the threads it looks at, so a
ticket opened two years ago still traces to its events. The entities frame
holds the threads open at the start of the previous period or closed since
(alerts: open at the start of this period or later; a closed alert is never
flagged, and the recurrence of alerts is read from their events).
"""

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, case, null, or_, select, type_coerce, union_all
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from crm.models import Entity, Event

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
)
EVENT_TIMES = ("occurred_at",)
ENTITY_TIMES = ("opened_at", "closed_at", "due_at", "sla_due_at")


@dataclass(frozen=True)
class Frames:
    events: pd.DataFrame
    entities: pd.DataFrame


@dataclass(frozen=True)
class Window:
    """The moments a briefing reads the timeline between."""

    as_of: datetime
    period_start: datetime
    previous_start: datetime
    earliest: datetime  # the oldest event any figure needs (charts, previous period)
    alerts_since: datetime  # alerts raised since then are checked for recurrence


# Kinds whose attributes the analysis reads (a dispute's reason and deadline, why a
# payment failed, a campaign's id); alerts' attributes only where they can matter.
ATTRIBUTE_KINDS = ("dispute.opened", "dispute.closed", "payment.failed")


def load_frames(session: Session, client_id: int, window: Window) -> Frames:
    """The client's events and thread states for a briefing window."""
    return Frames(
        events=_events(session, client_id, window),
        entities=_entities(session, client_id, window),
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
    attributes = type_coerce(case((keep, Event.attributes), else_=null()), Event.attributes.type)
    columns = [
        attributes.label(name) if name == "attributes" else _column(Event, name, EVENT_TIMES)
        for name in EVENT_COLUMNS
    ]
    in_window = select(*columns).where(
        Event.client_id == client_id,
        Event.occurred_at >= window.earliest,
        Event.occurred_at <= window.as_of,
    )
    # A thread open for longer than the window still traces to all of its events.
    older_of_open_threads = (
        select(*(_column(Event, name, EVENT_TIMES) for name in EVENT_COLUMNS))
        .join(
            Entity,
            and_(
                Entity.client_id == Event.client_id,
                Entity.type == Event.thread_type,
                Entity.key == Event.thread_key,
            ),
        )
        .where(Event.client_id == client_id, Event.occurred_at < window.earliest, _needed(window))
    )
    rows = session.execute(union_all(in_window, older_of_open_threads)).all()
    return event_frame(rows)


def _entities(session: Session, client_id: int, window: Window):
    columns = [_column(Entity, name, ENTITY_TIMES) for name in ENTITY_COLUMNS]
    rows = session.execute(
        select(*columns).where(
            Entity.client_id == client_id, Entity.opened_at <= window.as_of, _needed(window)
        )
    ).all()
    return entity_frame(rows)


def _column(model, name: str, times: tuple[str, ...]):
    """A column to select; times as the driver hands them over (SQLite's UTC text,
    PostgreSQL's aware datetime), which pandas parses in one go far faster than
    the model's type converts them one by one."""
    column = getattr(model, name)
    return type_coerce(column, NullType()).label(name) if name in times else column


def event_frame(rows) -> pd.DataFrame:
    """Events as a frame (tests build theirs with this too): times UTC, amounts Decimal."""
    frame = _frame(rows, EVENT_COLUMNS, EVENT_TIMES)
    frame["attributes"] = frame["attributes"].map(lambda value: value or {})
    return frame.sort_values(["occurred_at", "id"], kind="stable", ignore_index=True)


def entity_frame(rows) -> pd.DataFrame:
    return _frame(rows, ENTITY_COLUMNS, ENTITY_TIMES)


def _frame(rows, columns: tuple[str, ...], times: tuple[str, ...]) -> pd.DataFrame:
    """Columns of Python values with None for missing ones (pandas would make
    text columns `str` with NaN), so the analysis can say `value or default`;
    times as UTC datetimes (text without an offset is UTC, as crm.models.types
    stores it on SQLite). Built column by column: DataFrame.from_records followed
    by that conversion costs ten times as much on a small frame."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pd.DataFrame(
        {
            name: pd.to_datetime(pd.Series(column, dtype=object), utc=True, format="ISO8601")
            if name in times
            else pd.Series(column, dtype="int64" if name == "id" else object)
            for name, column in zip(columns, values, strict=True)
        }
    )
