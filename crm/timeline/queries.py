"""Reading a client's history: the timeline, one thread, the commitments.

The timeline is read in pages of lean rows (a Core select of the columns the
pages and the API show), never ORM objects: a client with 100,000 events must
page as fast as one with ten, so each page is one probe of the index
ix_events_client_timeline (client_id, occurred_at, id) walking backwards from
a keyset position. Positions travel as opaque cursors; there is no OFFSET, so
a page deep in the history costs what the first page costs, and events that
arrive meanwhile never shift a page onto events already seen.

Filter dates are calendar days in UTC, both ends inclusive, the days the
pages group the timeline by (times on the pages are UTC too).
"""

import base64
import binascii
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Row, Select, bindparam, or_, select, tuple_
from sqlalchemy.orm import Session

from crm import flags
from crm.models import Client, Entity, Event
from crm.paging import Page, page_of
from crm.vocabulary import KINDS

# Every thread type some kind joins; only entity types keep a state.
THREAD_TYPES = frozenset(kind.thread for kind in KINDS.values())
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# What one timeline row carries. `status` is what the event says of its
# thread's status (a ticket set to "pending", a dispute that "needs_response"),
# read from the attributes by the database so the JSON is never decoded here.
TIMELINE_COLUMNS = (
    Event.id,
    Event.occurred_at,
    Event.source,
    Event.kind,
    Event.title,
    Event.detail,
    Event.amount,
    Event.currency,
    Event.thread_type,
    Event.thread_key,
    Event.actor,
    Event.url,
    Event.origin,
    Event.external_id,
    Event.attributes["status"].as_string().label("status"),
    # The record a moment was read from when no record of the moment itself
    # came (connectors.lifecycle): shown, so nobody takes it for one.
    Event.attributes["implied_by"].as_string().label("implied_by"),
)


class BadCursor(ValueError):
    """A cursor this module did not make (or made for another purpose)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the (occurred_at, id) of its last, oldest row."""

    occurred_at: datetime
    id: int

    def encode(self) -> str:
        """An opaque, URL-safe cursor (callers must not build or read one)."""
        micros = (self.occurred_at - _EPOCH) // timedelta(microseconds=1)
        raw = f"{micros}.{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> "Position":
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            micros, _, event_id = raw.partition(".")
            return cls(_EPOCH + timedelta(microseconds=int(micros)), int(event_id))
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as error:
            raise BadCursor("is not a cursor from a previous page") from error


@dataclass(frozen=True)
class TimelineFilter:
    """What to show of a timeline; empty means everything."""

    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    since: date | None = None  # first day shown (UTC), inclusive
    until: date | None = None  # last day shown (UTC), inclusive
    text: str | None = None  # in the title, detail or actor, any case

    @property
    def is_empty(self) -> bool:
        return not (self.sources or self.kinds or self.since or self.until or self.text)


@dataclass(frozen=True)
class TimelinePage:
    rows: list[Row]  # newest first, columns as TIMELINE_COLUMNS
    next_cursor: str | None  # the next, older page; None on the last page


def timeline_page(
    session: Session,
    client: int | str,
    filters: TimelineFilter | None = None,
    *,
    limit: int = PAGE_SIZE,
    after: Position | None = None,
) -> TimelinePage | None:
    """One page of a client's events, newest first, older than `after`: the
    client with this id, or with this slug, and then None if there is none.

    By slug is the API's path: the slug is resolved inside the page's one
    statement, and only an empty page costs a second query, to tell no events
    from no client.
    """
    statement, parameters = timeline_query(client, filters, limit=limit, after=after)
    rows = session.connection().execute(statement, parameters).all()
    by_slug = isinstance(client, str)
    if (
        not rows
        and by_slug
        and session.scalar(select(Client.id).where(Client.slug == client)) is None
    ):
        return None
    return _page(rows, limit)


def _page(rows: list[Row], limit: int) -> TimelinePage:
    if len(rows) <= limit:
        return TimelinePage(rows, None)
    rows = rows[:limit]
    last = rows[-1]
    return TimelinePage(rows, Position(last.occurred_at, last.id).encode())


def timeline_query(
    client: int | str,
    filters: TimelineFilter | None = None,
    *,
    limit: int = PAGE_SIZE,
    after: Position | None = None,
) -> tuple[Select, dict]:
    """The statement behind a page of the client with this id (or slug), and
    its parameters. It asks for one row more than the page: that row tells
    whether an older page exists.

    Statements are built once per shape (which filters are set) and then
    reused with new parameters: building and keying a select costs more than
    the indexed query itself.
    """
    filters = filters or TimelineFilter()
    shape = (
        isinstance(client, str),
        after is not None,
        bool(filters.sources),
        bool(filters.kinds),
        filters.since is not None,
        filters.until is not None,
        bool(filters.text),
    )
    parameters = {"client": client, "limit": limit + 1}
    if after is not None:
        parameters |= {"after_at": after.occurred_at, "after_id": after.id}
    if filters.sources:
        parameters["sources"] = list(filters.sources)
    if filters.kinds:
        parameters["kinds"] = list(filters.kinds)
    if filters.since is not None:
        parameters["since"] = _midnight(filters.since)
    if filters.until is not None:
        parameters["until"] = _midnight(filters.until + timedelta(days=1))
    if filters.text:
        parameters["text"] = _escape_like(filters.text)
    return _statement(shape), parameters


@functools.lru_cache(maxsize=128)
def _statement(shape: tuple[bool, ...]) -> Select:
    by_slug, after, sources, kinds, since, until, text = shape
    moment = Event.occurred_at.type
    client = bindparam("client")
    if by_slug:
        client = select(Client.id).where(Client.slug == client).scalar_subquery()
    query = select(*TIMELINE_COLUMNS).where(Event.client_id == client)
    if after:
        position = tuple_(bindparam("after_at", type_=moment), bindparam("after_id"))
        query = query.where(tuple_(Event.occurred_at, Event.id) < position)
    if sources:
        query = query.where(Event.source.in_(bindparam("sources", expanding=True)))
    if kinds:
        query = query.where(Event.kind.in_(bindparam("kinds", expanding=True)))
    if since:
        query = query.where(Event.occurred_at >= bindparam("since", type_=moment))
    if until:
        query = query.where(Event.occurred_at < bindparam("until", type_=moment))
    if text:
        # ILIKE on PostgreSQL; lower() LIKE lower() on SQLite, whose lower()
        # folds ASCII letters only.
        pattern = bindparam("text")
        query = query.where(
            or_(
                *(
                    column.icontains(pattern, escape=LIKE_ESCAPE)
                    for column in (Event.title, Event.detail, Event.actor)
                )
            )
        )
    order = (Event.occurred_at.desc(), Event.id.desc())
    return query.order_by(*order).limit(bindparam("limit"))


LIKE_ESCAPE = "/"


def _escape_like(text: str) -> str:
    """The text with LIKE's wildcards taken literally."""
    for character in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(character, LIKE_ESCAPE + character)
    return text


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def timeline_row(session: Session, event_id: int) -> Row:
    """One event as the timeline shows it."""
    return session.execute(select(*TIMELINE_COLUMNS).where(Event.id == event_id)).one()


@dataclass(frozen=True)
class Thread:
    thread_type: str
    key: str
    events: list[Row]  # oldest first, columns as TIMELINE_COLUMNS
    state: Entity | None  # None for threads that keep no state (a campaign)


def thread(session: Session, client_id: int, thread_type: str, key: str) -> Thread | None:
    """All events of one thread of a client with its current state, or None."""
    if thread_type not in THREAD_TYPES:
        return None
    events = session.execute(
        select(*TIMELINE_COLUMNS)
        .where(
            Event.client_id == client_id,
            Event.thread_type == thread_type,
            Event.thread_key == key,
        )
        .order_by(Event.occurred_at, Event.id)
    ).all()
    state = session.scalar(
        select(Entity).where(
            Entity.client_id == client_id, Entity.type == thread_type, Entity.key == key
        )
    )
    if not events and state is None:
        return None
    return Thread(thread_type, key, events, state)


COMMITMENT_STATES = ("open", "overdue", "done")


def commitments(session: Session, client_id: int, state: str, now: datetime) -> list[Entity]:
    """A client's commitments: `open` (not done yet, overdue included),
    `overdue` (open past their due time) or `done`; soonest due first."""
    if state not in COMMITMENT_STATES:
        raise ValueError(f"state {state!r}: one of {', '.join(COMMITMENT_STATES)}")
    query = select(Entity).where(Entity.client_id == client_id, Entity.type == "commitment")
    if state == "done":
        query = query.where(Entity.closed_at.is_not(None)).order_by(Entity.closed_at.desc())
    else:
        query = query.where(Entity.closed_at.is_(None))
        if state == "overdue":  # as flagged everywhere (crm.flags)
            query = query.where(flags.kind_sql("overdue_commitment", now))
        # Those without a due time last: a promise with a date is the pressing one.
        query = query.order_by(Entity.due_at.is_(None), Entity.due_at, Entity.opened_at)
    return list(session.scalars(query.order_by(Entity.id)))


THREAD_LIST_STATES = ("open", "closed")
THREAD_LIST_PAGE = 50


def threads_page(
    session: Session,
    client_id: int,
    *,
    state: str = "open",
    thread_type: str | None = None,
    category: str | None = None,
    page: int = 1,
    per_page: int = THREAD_LIST_PAGE,
) -> Page[Entity]:
    """One page of a client's threads: the full list behind a card's or a
    briefing's "and 8,431 more". Open ones oldest first (the longest waiting
    lead, as on the card); closed ones most recently closed first."""
    if state not in THREAD_LIST_STATES:
        raise ValueError(f"state {state!r}: one of {', '.join(THREAD_LIST_STATES)}")
    conditions = [Entity.client_id == client_id]
    conditions.append(
        Entity.closed_at.is_(None) if state == "open" else Entity.closed_at.is_not(None)
    )
    if thread_type is not None:
        conditions.append(Entity.type == thread_type)
    if category is not None:
        conditions.append(Entity.category == category)
    order = (
        (Entity.opened_at, Entity.id)
        if state == "open"
        else (Entity.closed_at.desc(), Entity.id.desc())
    )
    return page_of(session, select(Entity).where(*conditions).order_by(*order), page, per_page)
