"""The timeline: immutable events, and the derived state of each thread."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from crm.extensions import db
from crm.models.clients import Client
from crm.models.types import Json, Money, MoneySum, UTCDateTime, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits
# for tens of millions of events.
BigId = BigInteger().with_variant(Integer, "sqlite")


def partial_index(name: str, *columns: str, where: str, include: list[str] | None = None) -> Index:
    """An index of the rows meeting `where`, on PostgreSQL carrying `include`
    too. The condition is the same on both databases, but each dialect reads
    it from its own keyword: a condition given to one alone would leave the
    other a full index."""
    options = {"postgresql_include": include} if include else {}
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where), **options)


# The condition of the partial index of meetings.
MEETINGS = "kind = 'meeting'"
# The conditions of the partial indexes of open and of closed threads.
OPEN_THREADS = "closed_at IS NULL"  # also the portfolio's, below
CLOSED_THREADS = "closed_at IS NOT NULL"
# The kinds of event that move money in or out (crm.collected's rule), and
# the condition of the partial index over them.
COLLECTED_KINDS = ("payment.received", "refund.issued")
COLLECTED = "kind IN ('payment.received', 'refund.issued')"
# The conditions of entities' partial indexes: tickets (read by when they
# opened), and the open threads, which alone can raise a flag (crm.flags).
TICKETS = "type = 'ticket'"
# What ix_events_client_kind carries on PostgreSQL (migration 0027).
KIND_INCLUDES = ["thread_type", "thread_key", "id", "amount", "currency"]
# The condition of the partial index of alerts raised (crm.flags.recurring).
ALERTS_RAISED = "kind = 'alert.raised'"
# PostgreSQL 15 answers from the index alone only when it holds closed_at,
# its condition's column, and the ranked list reads ids.
OPEN_THREAD_COLUMNS = [
    "id",
    "closed_at",
    "opened_at",
    "due_at",
    "sla_due_at",
    "priority",
    "status",
    "last_event_at",
    "key",
]

# The indexes of open threads by each column a flag's age counts from
# (crm.flags.ranking walks them by (column, opened_at, id)), on PostgreSQL
# with what the rules read and the client, so that a walk reads the index alone.
OPEN_BY_SINCE = tuple(
    (name, columns, [c for c in (*OPEN_THREAD_COLUMNS, "client_id") if c not in columns])
    for name, columns in (
        ("ix_entities_open_by_opened", ("type", "opened_at", "id")),
        ("ix_entities_open_by_due_at", ("type", "due_at", "opened_at", "id")),
        ("ix_entities_open_by_last_event", ("type", "last_event_at", "opened_at", "id")),
    )
)


class _ClientTimelineRow:
    """A row of one client's timeline (an event, a thread): numbered by
    BigId, deleted with its client. Its columns come first in the table."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, sort_order=-1)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), sort_order=-1
    )

    @declared_attr
    def client(cls) -> Mapped[Client]:  # noqa: N805 (a class attribute, made per class)
        return relationship(Client)


class Event(_ClientTimelineRow, db.Model):
    """One fact on a client's timeline, never changed once written.

    (origin, external_id) is the natural key: the system the fact came from
    and that system's id for it, so re-ingesting the same input is a no-op.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("origin", "external_id"),
        # Keyset pagination of a client's timeline, newest first. On
        # PostgreSQL it carries the kind too, so that counting a client's
        # events by kind over a year (a briefing's charts) reads the index
        # alone, not a row per event.
        Index(
            "ix_events_client_timeline",
            "client_id",
            "occurred_at",
            "id",
            postgresql_include=["kind"],
        ),
        # A client's last meeting, which starts a briefing's period: a few a
        # year among thousands of events, so the timeline index would walk
        # back through every event since. Queries find it by `is_meeting`.
        partial_index(
            "ix_events_client_meetings",
            "client_id",
            "occurred_at",
            where=MEETINGS,
        ),
        # A thread's events, and by kind and time within it: the newest
        # raise of an alert before each of its clearings (a briefing's
        # times to resolve) is the end of one range (migration 0026).
        Index(
            "ix_events_client_thread",
            "client_id",
            "thread_type",
            "thread_key",
            "kind",
            "occurred_at",
        ),
        # One kind of a client's events over time (the alerts raised in the
        # card's last 30 days): the timeline index would read every event of
        # the range to keep the few of that kind. On PostgreSQL it carries
        # what a briefing reads of a period's events of a kind (the tickets
        # solved, the alerts cleared and their threads, the amounts billed),
        # so those read the index alone, not a table page per event
        # (migration 0027).
        Index(
            "ix_events_client_kind",
            "client_id",
            "kind",
            "occurred_at",
            postgresql_include=KIND_INCLUDES,
        ),
        # Money collected over a few days of every client (the edges of a
        # portfolio's period, crm.collected): the payments alone, in time
        # order, carrying what is summed, so the index alone answers.
        partial_index(
            "ix_events_collected",
            "occurred_at",
            include=["client_id", "currency", "amount", "kind"],
            where=COLLECTED,
        ),
        # Every client's alerts raised in the last 30 days (the portfolio's
        # and the directory's recurring alerts): a scan of all events else.
        partial_index(
            "ix_events_alerts_raised",
            "occurred_at",
            where=ALERTS_RAISED,
        ),
    )

    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(40))
    origin: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))
    thread_type: Mapped[str | None] = mapped_column(String(16))
    thread_key: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict] = mapped_column(Json, default=dict)
    payload_id: Mapped[int | None] = mapped_column(
        ForeignKey("raw_payloads.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Event {self.origin}:{self.external_id} {self.kind}>"


# The events that are meetings, for a query to say so as the partial index
# does: with the kind as a literal, not a parameter. PostgreSQL plans a
# statement prepared with `kind = $1` for any kind (psycopg prepares what
# runs often), and such a plan cannot use an index of meetings alone.
is_meeting = Event.kind == literal_column("'meeting'")


class Entity(_ClientTimelineRow, db.Model):
    """The current state of one thread (a ticket, an invoice, a dispute, ...).

    Always the fold of all of the thread's events (see crm.threads), so it is
    the same whatever order events came in: continued from the stored state
    when the new events all come after it, folded again otherwise
    (crm.entities).
    """

    __tablename__ = "entities"
    __table_args__ = (
        UniqueConstraint("client_id", "type", "key"),
        Index("ix_entities_open", "client_id", "type", "closed_at"),
        # A client's open threads of a type, oldest first and soonest due
        # first: the pre-contact card names the first ten of each section and
        # stops, where ix_entities_open would fetch and sort them all (20,000
        # open alerts). On PostgreSQL they carry what the flags read, so that
        # counting a section or a flag reads the index alone.
        partial_index(
            "ix_entities_open_by_age",
            "client_id",
            "type",
            "opened_at",
            "id",
            include=[
                "due_at",
                "sla_due_at",
                "status",
                "priority",
                "amount",
                "currency",
                "closed_at",
            ],
            where=OPEN_THREADS,
        ),
        partial_index(
            "ix_entities_open_by_due",
            "client_id",
            "type",
            "due_at",
            "id",
            include=["opened_at", "status", "amount", "currency", "closed_at"],
            where=OPEN_THREADS,
        ),
        # A client's threads by when they closed, whatever their type: the
        # card's latest work finished, newest first, and how much in 14 days.
        partial_index(
            "ix_entities_closed",
            "client_id",
            "closed_at",
            include=["type", "status"],
            where=CLOSED_THREADS,
        ),
        # Every client's tickets opened in a period (the portfolio's tickets
        # and categories): the tickets alone, by when they opened.
        partial_index(
            "ix_entities_tickets_opened",
            "opened_at",
            include=["client_id", "category", "closed_at", "sla_due_at", "type"],
            where=TICKETS,
        ),
        # Every client's open threads of a type by the moment a flag's age
        # counts from (crm.flags.KINDS' `since`): the portfolio's most severe
        # flags are the heads of these ranges (crm.flags.ranking.most_severe).
        *(
            partial_index(
                name,
                *columns,
                include=included,
                where=OPEN_THREADS,
            )
            for name, columns, included in OPEN_BY_SINCE
        ),
        # Every client's open threads of a type (the portfolio's and the
        # directory's flags): a fraction of the threads, and on PostgreSQL
        # with every column crm.flags' rules and ranking read, so that
        # counting and ranking the flags reads the index alone.
        partial_index(
            "ix_entities_open_threads",
            "type",
            "client_id",
            include=OPEN_THREAD_COLUMNS,
            where=OPEN_THREADS,
        ),
    )

    type: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    amount: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))
    priority: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(80))
    assignee: Mapped[str | None] = mapped_column(String(200))
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_count: Mapped[int] = mapped_column(default=0)
    # The device the thread's latest event naming one names (crm.threads.device_of):
    # an alert's host, which groups open alerts without reading their events.
    device: Mapped[str | None] = mapped_column(Text)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def __repr__(self) -> str:
        return f"<Entity {self.type}:{self.key} {self.status}>"


class CollectedMonth(db.Model):
    """Money collected from one client in one calendar month (UTC) in one
    currency: a cache of crm.collected's rule over the events, kept by the
    writes of events (crm.collected.record), so that a year of every
    client's revenue is a few rows each, not every payment.

    `events` counts the events summed, so that a month whose payments and
    refunds cancel out still says money moved (the report lists it at 0).
    """

    __tablename__ = "collected_months"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    # Keyed by currency before month: a period's sum per client and currency
    # then reads the key in order, never hashing a row per month.
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    amount: Mapped[Decimal] = mapped_column(MoneySum())
    events: Mapped[int] = mapped_column(default=0)


class DayCount(db.Model):
    """How many events of one kind one client had on one calendar day (UTC):
    a cache of the events kept by their writes (crm.day_counts), so that
    counting a busy client's year by kind (a briefing's charts and periods)
    reads a row per day and kind, not an index entry per event."""

    __tablename__ = "day_counts"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    events: Mapped[int] = mapped_column(default=0)
