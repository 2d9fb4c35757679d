"""threads know their device: entities.device, folded from their events

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

A thread's `device` is the device its latest event naming one names
(crm.threads.device_of: attribute `instance`, an alert's host); the pipeline
sets it when it folds the thread, and the card groups open alerts by it
without reading their events (crm.timeline.alert_groups). The backfill folds
it the same way (crm.threads.fold_state, as 0008-0010 fold), from the events
that name a device only: the others leave it as it is. Read thread by thread
in key order (index ix_events_client_thread), written in chunks.
"""

from itertools import groupby

import sqlalchemy as sa
from alembic import op

from crm.models.types import Json, Money, UTCDateTime
from crm.threads import DEVICE_ATTRIBUTE, ThreadFact, fold_state

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

CHUNK = 5_000

events = sa.table(
    "events",
    *map(sa.column, ("client_id", "thread_type", "thread_key", "kind", "external_id", "title")),
    sa.column("currency"),
    sa.column("occurred_at", UTCDateTime),
    sa.column("amount", Money),
    sa.column("attributes", Json),
)
FACT = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")


def upgrade():
    op.add_column("entities", sa.Column("device", sa.Text(), nullable=True))
    _backfill(op.get_bind())


def downgrade():
    op.drop_column("entities", "device")


def _backfill(connection) -> None:
    """Each thread's device, folded from its events that name one."""
    thread = (events.c.client_id, events.c.thread_type, events.c.thread_key)
    rows = connection.execute(
        sa.select(*thread, *(events.c[name] for name in FACT))
        .where(
            events.c.thread_type.is_not(None),
            events.c.attributes[DEVICE_ATTRIBUTE].as_string().is_not(None),
        )
        .order_by(*thread)
        .execution_options(yield_per=CHUNK)  # this statement's, not the connection's
    )
    update = sa.text(
        "UPDATE entities SET device = :device"
        " WHERE client_id = :client_id AND type = :type AND key = :key"
    )
    found = []
    for (client_id, thread_type, key), group in groupby(rows, key=lambda row: tuple(row[:3])):
        facts = [ThreadFact.from_stored(*row[3:]) for row in group]
        device = fold_state(thread_type, facts).device
        if device is not None:
            found.append({"device": device, "client_id": client_id, "type": thread_type, "key": key})
        if len(found) >= CHUNK:
            connection.execute(update, found)
            found = []
    if found:
        connection.execute(update, found)
