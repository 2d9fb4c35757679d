"""stripe: a step of an object's life keyed by the object, not by the event

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

The Stripe connector keyed the events of webhooks by the event's id, and
those of exports by "<object>:<step>", so a step told both ways was two
events. It now keys every step by its object ("in_1:issued"), whichever
record tells of it (connectors.stripe_lifecycle), and a later event implies
the earlier steps of its object under those keys. Stored steps keyed by
their event's id would then be shown twice once a later record implies
them: this gives them the object's key, or, where the same step is stored
under that key already (from an export), removes the second copy and folds
its thread again. Facts that are not steps (a failed payment attempt, a
subscription change, a refund's cumulative amount) keep their ids.
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

import crm.models.types
from crm.threads import ThreadFact, fold_state

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHUNK = 1000
Time = crm.models.types.UTCDateTime
# The event types that tell one step of their object, with the step
# (connectors.stripe EVENTS, as of this revision).
STEPS = {
    "invoice.finalized": "issued",
    "invoice.voided": "void",
    "charge.succeeded": "succeeded",
    "charge.failed": "failed",
    "charge.dispute.created": "opened",
    "charge.dispute.closed": "closed",
    "customer.subscription.created": "created",
    "customer.subscription.deleted": "cancelled",
}
STATE = (
    "opened_at",
    "last_event_at",
    "event_count",
    "status",
    "closed_at",
    "title",
    "amount",
    "currency",
    "due_at",
    "priority",
    "category",
    "assignee",
    "sla_due_at",
)

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
    sa.column("attributes", crm.models.types.Json),
)
entities = sa.table(
    "entities",
    sa.column("client_id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("key", sa.String),
    *(sa.column(name) for name in STATE),
)
FACT = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")


def upgrade():
    connection = op.get_bind()
    refold: dict[tuple[int, str], set[str]] = defaultdict(set)
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                events.c.id,
                events.c.client_id,
                events.c.external_id,
                events.c.thread_type,
                events.c.thread_key,
                events.c.attributes,
            )
            .where(
                events.c.id > last,
                events.c.origin == "stripe",
                events.c.external_id.like("evt%"),
            )
            .order_by(events.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        for row in rows:
            attributes = row.attributes or {}
            step = STEPS.get(attributes.get("stripe_type"))
            if step is None or not attributes.get("stripe_id"):
                continue
            key = f"{attributes['stripe_id']}:{step}"
            taken = connection.execute(
                sa.select(events.c.id).where(
                    events.c.origin == "stripe", events.c.external_id == key
                )
            ).first()
            if taken is None:
                connection.execute(
                    events.update().where(events.c.id == row.id).values(external_id=key)
                )
            else:  # the same step, stored from an export: one copy is enough
                connection.execute(events.delete().where(events.c.id == row.id))
                if row.thread_type and row.thread_key:
                    refold[(row.client_id, row.thread_type)].add(row.thread_key)
    for (client_id, thread_type), keys in refold.items():
        _refold(connection, client_id, thread_type, sorted(keys))


def downgrade():
    pass  # the event ids taken away were Stripe's names for the same steps


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
        state = fold_state(thread_type, thread).as_entity()
        connection.execute(
            entities.update()
            .where(
                entities.c.client_id == client_id,
                entities.c.type == thread_type,
                entities.c.key == key,
            )
            .values({name: state[name] for name in STATE})
        )
