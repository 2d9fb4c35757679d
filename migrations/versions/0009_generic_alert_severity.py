"""generic alerts: their severity is their priority; device and category name them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

The flags now read a critical alert from its thread's priority alone
(crm.flags), and recurrence from the `instance` and `alertname` attributes of
its raises. The generic `rmm` format gave an alert's severity as an attribute
`severity`, its device as `device` and its check as `category`: the connector
now reads them as those (connectors.generic). This gives the alert events
already stored the same: `priority` from `severity` where none was given,
`instance` from `device` and `alertname` from the category, and folds their
threads again, a client at a time, with the fold of the code that runs it.
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

import crm.models.types
from crm.threads import ThreadFact, fold_state

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHUNK = 1000
Time = crm.models.types.UTCDateTime
Json = crm.models.types.Json

events = sa.table(
    "events",
    sa.column("id", sa.BigInteger),
    sa.column("client_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("origin", sa.String),
    sa.column("external_id", sa.String),
    sa.column("occurred_at", Time),
    sa.column("title", sa.String),
    sa.column("amount", crm.models.types.Money),
    sa.column("currency", sa.String),
    sa.column("thread_type", sa.String),
    sa.column("thread_key", sa.String),
    sa.column("attributes", Json),
)
entities = sa.table(
    "entities",
    sa.column("client_id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("key", sa.String),
    sa.column("priority", sa.String),
)
FACT = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")


def named(attributes: dict) -> dict:
    """The attributes as connectors.generic now writes an alert's."""
    named = dict(attributes)
    if named.get("priority") in (None, "") and named.get("severity") not in (None, ""):
        named["priority"] = str(named["severity"])[:32]
    if named.get("instance") is None and named.get("device") is not None:
        named["instance"] = named["device"]
    if named.get("alertname") is None and named.get("category") is not None:
        named["alertname"] = named["category"]
    return named


def upgrade():
    connection = op.get_bind()
    changed: dict[int, set[str]] = defaultdict(set)
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.id, events.c.client_id, events.c.thread_key, events.c.attributes)
            .where(
                events.c.id > last,
                events.c.kind.in_(("alert.raised", "alert.resolved")),
                events.c.origin != "alertmanager",
            )
            .order_by(events.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        for row in rows:
            attributes = row.attributes or {}
            new = named(attributes)
            if new != attributes:
                connection.execute(
                    events.update().where(events.c.id == row.id).values(attributes=new)
                )
                if row.thread_key:
                    changed[row.client_id].add(row.thread_key)
    for client_id, keys in changed.items():
        keys = sorted(keys)
        for start in range(0, len(keys), CHUNK):
            _refold(connection, client_id, keys[start : start + CHUNK])


def downgrade():
    pass  # the attributes added are what the events meant; nothing to take back


def _refold(connection, client_id: int, keys: list[str]) -> None:
    facts: dict[str, list[ThreadFact]] = defaultdict(list)
    rows = connection.execute(
        sa.select(events.c.thread_key, *(events.c[name] for name in FACT)).where(
            events.c.client_id == client_id,
            events.c.thread_type == "alert",
            events.c.thread_key.in_(keys),
        )
    )
    for key, *values in rows:
        facts[key].append(ThreadFact.from_stored(*values))
    for key, thread in facts.items():
        connection.execute(
            entities.update()
            .where(
                entities.c.client_id == client_id,
                entities.c.type == "alert",
                entities.c.key == key,
            )
            .values(priority=fold_state("alert", thread).priority)
        )
