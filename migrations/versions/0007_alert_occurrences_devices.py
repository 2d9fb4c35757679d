"""alerts: a thread per occurrence, a resolved alert implies its raise; devices

Alertmanager's alerts were threaded by fingerprint alone: every time the same
check on the same target fired, it joined one thread, so an alert that fired
five times was one alert, and an alert first received resolved had no raise.
The connector now keys each occurrence (fingerprint and `startsAt`) as a
thread of its own, `FINGERPRINT@STARTS_AT`, and a resolved record implies the
raise at `startsAt` (connectors.alertmanager). This brings the stored events
to the same: each Alertmanager alert event moves to its occurrence's thread,
each occurrence seen only resolved gets the raise the connector would now
imply (the id a firing record of it has, marked `implied_by`), and the
threads are folded again (crm.threads: the fold of the code that runs the
migration), a few hundred threads at a time.

devices: a client's devices, as an RMM's inventory lists them (crm.models.Device).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00

"""

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import crm.models.types
from crm.threads import ThreadFact, fold_state

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ORIGIN = "alertmanager"
IMPLIED_BY = "implied_by"  # connectors.lifecycle.IMPLIED_BY
CHUNK = 500

Json = crm.models.types.Json
Time = crm.models.types.UTCDateTime

# The columns this migration reads and writes, as they stand at this revision.
events = sa.table(
    "events",
    sa.column("id", sa.BigInteger),
    sa.column("client_id", sa.Integer),
    sa.column("source", sa.String),
    sa.column("kind", sa.String),
    sa.column("origin", sa.String),
    sa.column("external_id", sa.String),
    sa.column("occurred_at", Time),
    sa.column("title", sa.String),
    sa.column("detail", sa.Text),
    sa.column("amount", crm.models.types.Money),
    sa.column("currency", sa.String),
    sa.column("thread_type", sa.String),
    sa.column("thread_key", sa.String),
    sa.column("actor", sa.String),
    sa.column("url", sa.Text),
    sa.column("attributes", Json),
    sa.column("payload_id", sa.Integer),
    sa.column("received_at", Time),
)
entities = sa.table(
    "entities",
    sa.column("client_id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("key", sa.String),
    sa.column("status", sa.String),
    sa.column("title", sa.String),
    sa.column("opened_at", Time),
    sa.column("closed_at", Time),
    sa.column("due_at", Time),
    sa.column("amount", crm.models.types.Money),
    sa.column("currency", sa.String),
    sa.column("priority", sa.String),
    sa.column("category", sa.String),
    sa.column("assignee", sa.String),
    sa.column("sla_due_at", Time),
    sa.column("last_event_at", Time),
    sa.column("event_count", sa.Integer),
)
FACT = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")
ALERTMANAGER_ALERTS = sa.and_(events.c.origin == ORIGIN, events.c.thread_type == "alert")


def upgrade():
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("dns_name", sa.String(length=200), nullable=True),
        sa.Column("serial_number", sa.String(length=100), nullable=True),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("operating_system", sa.String(length=200), nullable=True),
        sa.Column("device_type", sa.String(length=80), nullable=True),
        sa.Column("last_seen_at", Time(timezone=True), nullable=True),
        sa.Column("rmm", sa.String(length=40), nullable=True),
        sa.Column("rmm_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.Column("updated_at", Time(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_devices_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("client_id", "host", name=op.f("uq_devices_client_id_host")),
    )
    _rethread(_by_occurrence)


def downgrade():
    _rethread(_by_fingerprint)
    op.drop_table("devices")


# --- rethreading ---------------------------------------------------------------------


def _by_occurrence(row) -> str | None:
    """The occurrence's thread (`FINGERPRINT@STARTS_AT`) of an event threaded by
    fingerprint; None for one that is in its occurrence's thread already."""
    starts = _starts_at(row)
    if starts is None or row.thread_key.endswith(f"@{starts}"):
        return None
    return f"{row.thread_key}@{starts}"


def _by_fingerprint(row) -> str | None:
    fingerprint, at, _ = row.thread_key.rpartition("@")
    return fingerprint if at else None


def _starts_at(row) -> str | None:
    """The alert's `startsAt` as the connector wrote it (attribute `starts_at`;
    it is also in the id, `FINGERPRINT:STARTS_AT:STATUS`)."""
    starts = (row.attributes or {}).get("starts_at")
    if starts:
        return starts
    prefix = f"{row.thread_key}:"
    if row.external_id.startswith(prefix):
        return row.external_id[len(prefix) :].rpartition(":")[0] or None
    return None


def _rethread(new_key) -> None:
    """Move each client's Alertmanager alert events to the threads `new_key`
    names, give occurrences seen only resolved their raise (on the way up),
    and fold the threads they left and joined. A client's threads a few
    hundred at a time: an old thread's events only ever move to threads of
    their own, so memory holds those few threads' events, however many a
    client has."""
    connection = op.get_bind()
    clients = connection.execute(
        sa.select(events.c.client_id).where(ALERTMANAGER_ALERTS).distinct()
    ).scalars()
    for client_id in list(clients):
        mine = sa.and_(ALERTMANAGER_ALERTS, events.c.client_id == client_id)
        keys = connection.execute(sa.select(events.c.thread_key).where(mine).distinct())
        for chunk in _chunks(sorted(keys.scalars())):
            rows = connection.execute(
                sa.select(events).where(mine, events.c.thread_key.in_(chunk))
            ).all()
            _move(connection, client_id, rows, new_key)


def _move(connection, client_id: int, rows, new_key) -> None:
    moves = {row.id: new_key(row) for row in rows}
    moves = {event_id: key for event_id, key in moves.items() if key is not None}
    if not moves:
        return
    for chunk in _chunks(list(moves.items())):
        connection.execute(
            events.update()
            .where(events.c.id == sa.bindparam("event_id"))
            .values(thread_key=sa.bindparam("key")),
            [{"event_id": event_id, "key": key} for event_id, key in chunk],
        )
    if new_key is _by_occurrence:
        _imply_raises(connection, [row for row in rows if row.id in moves], moves)
    left = {row.thread_key for row in rows if row.id in moves}
    _refold(connection, client_id, left | set(moves.values()))


def _imply_raises(connection, rows, moves: dict[int, str]) -> None:
    """The raise at `startsAt` of every occurrence seen only resolved, as the
    connector implies it (connectors.lifecycle): the resolved event at its
    start, with the id of a firing record of the occurrence."""
    raised = {moves[row.id] for row in rows if row.kind == "alert.raised"}
    implied = {}
    for row in rows:
        key = moves[row.id]
        starts = _starts_at(row)
        at = _time(starts)
        if row.kind != "alert.resolved" or key in raised or at is None or at >= row.occurred_at:
            continue
        fingerprint = key.rpartition("@")[0]
        external_id = f"{fingerprint}:{starts}:firing"
        implied[external_id] = row._asdict() | {
            "kind": "alert.raised",
            "external_id": external_id,
            "occurred_at": at,
            "thread_key": key,
            "attributes": (row.attributes or {}) | {"status": "firing", IMPLIED_BY: row.external_id},
        }
        raised.add(key)
    taken = set()
    for chunk in _chunks(sorted(implied)):
        taken.update(
            connection.execute(
                sa.select(events.c.external_id).where(
                    events.c.origin == ORIGIN, events.c.external_id.in_(chunk)
                )
            ).scalars()
        )
    fresh = [
        {name: value for name, value in row.items() if name != "id"}
        for external_id, row in implied.items()
        if external_id not in taken
    ]
    for chunk in _chunks(fresh):
        connection.execute(events.insert(), list(chunk))


def _refold(connection, client_id: int, keys: set[str]) -> None:
    """Fold these alert threads of the client again from all of their events;
    a thread left without events goes."""
    facts: dict[str, list[ThreadFact]] = defaultdict(list)
    for chunk in _chunks(sorted(keys)):
        connection.execute(
            entities.delete().where(
                entities.c.client_id == client_id,
                entities.c.type == "alert",
                entities.c.key.in_(chunk),
            )
        )
        rows = connection.execute(
            sa.select(events.c.thread_key, *(events.c[name] for name in FACT)).where(
                events.c.client_id == client_id,
                events.c.thread_type == "alert",
                events.c.thread_key.in_(chunk),
            )
        )
        for key, *values in rows:
            facts[key].append(ThreadFact.from_stored(*values))
    # The state columns this revision's table has (later ones add more).
    states = [
        {"client_id": client_id, "key": key}
        | {
            name: value
            for name, value in fold_state("alert", thread).as_entity().items()
            if name in entities.c
        }
        for key, thread in facts.items()
    ]
    for chunk in _chunks(states):
        connection.execute(entities.insert(), list(chunk))


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(items: list):
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
