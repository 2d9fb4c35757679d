"""threads: closed when they became closed, not at a later closed status

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A thread's closed time was the time of its last closed status, so a ticket
solved on Monday and closed (Zendesk's automatic later step) on Friday, or
an invoice paid and later partly refunded, read as closed at the later
event. crm.threads now keeps the time the thread became closed. Only a
closed thread with more than one event can differ: those are folded again
from their events, a client at a time and a few hundred threads at once,
with the fold of the code that runs the migration (as 0007 does).
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

import crm.models.types
from crm.threads import ThreadFact, fold_state

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHUNK = 500
Time = crm.models.types.UTCDateTime

# The columns this migration reads and writes, as they stand at this revision.
events = sa.table(
    "events",
    sa.column("client_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("external_id", sa.String),
    sa.column("occurred_at", Time),
    sa.column("title", sa.String),
    sa.column("amount", crm.models.types.Money),
    sa.column("currency", sa.String),
    sa.column("thread_type", sa.String),
    sa.column("thread_key", sa.String),
    sa.column("attributes", crm.models.types.Json),
)
entities = sa.table(
    "entities",
    sa.column("client_id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("key", sa.String),
    sa.column("closed_at", Time),
    sa.column("event_count", sa.Integer),
)
FACT = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")


def upgrade():
    connection = op.get_bind()
    clients = connection.execute(
        sa.select(entities.c.client_id)
        .where(entities.c.closed_at.is_not(None), entities.c.event_count > 1)
        .distinct()
    ).scalars()
    for client_id in list(clients):
        threads = connection.execute(
            sa.select(entities.c.type, entities.c.key).where(
                entities.c.client_id == client_id,
                entities.c.closed_at.is_not(None),
                entities.c.event_count > 1,
            )
        ).all()
        by_type = defaultdict(list)
        for thread_type, key in threads:
            by_type[thread_type].append(key)
        for thread_type, keys in by_type.items():
            for start in range(0, len(keys), CHUNK):
                _refold(connection, client_id, thread_type, keys[start : start + CHUNK])


def downgrade():
    pass  # the earlier closing times are a worse reading of the same events


def _refold(connection, client_id: int, thread_type: str, keys: list[str]) -> None:
    facts: dict[str, list[ThreadFact]] = defaultdict(list)
    rows = connection.execute(
        sa.select(events.c.thread_key, *(events.c[name] for name in FACT)).where(
            events.c.client_id == client_id,
            events.c.thread_type == thread_type,
            events.c.thread_key.in_(keys),
        )
    )
    for key, *values in rows:
        facts[key].append(ThreadFact.from_stored(*values))
    for key, thread in facts.items():
        state = fold_state(thread_type, thread)
        connection.execute(
            entities.update()
            .where(
                entities.c.client_id == client_id,
                entities.c.type == thread_type,
                entities.c.key == key,
            )
            .values(closed_at=state.closed_at)
        )
