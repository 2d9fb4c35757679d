"""stripe: subscription events stored before MRR are priced from their records

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

MRR (crm.revenue) reads each subscription's latest event's `monthly_amount`
attribute, which the Stripe connector writes as it reads the subscription
(connectors.stripe_recurring). Events stored before it carry none, so their
subscriptions counted as unpriced until Stripe sent a new event; events stored
before discounts known only by id were told apart carry a monthly amount that
ignores those discounts (too high). The subscription those events were read
from is in their stored payload (raw_payloads, the body or file exactly as
received): this reads each such payload again with the Stripe connector and
gives every stored Stripe subscription event the price attributes
(`monthly_amount`, `list_monthly_amount`, `discount_not_known`) the connector
now gives the same event. Events without a payload (replayed from the inbox)
keep theirs until their subscription is read again. Nothing else of an event
changes; no thread's state depends on these attributes.

(Revises 0020: the lead re-points it to 0021 when both are merged.)
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

import crm.models.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

PRICE = ("monthly_amount", "list_monthly_amount", "discount_not_known")
CHUNK = 1000

events = sa.table(
    "events",
    sa.column("id", sa.BigInteger),
    sa.column("origin", sa.String),
    sa.column("external_id", sa.String),
    sa.column("thread_type", sa.String),
    sa.column("payload_id", sa.Integer),
    sa.column("attributes", crm.models.types.Json),
)
payloads = sa.table(
    "raw_payloads",
    sa.column("id", sa.Integer),
    sa.column("filename", sa.String),
    sa.column("content", sa.LargeBinary),
)


def upgrade():
    connection = op.get_bind()
    stored: dict[int, dict[str, tuple[int, dict]]] = defaultdict(dict)
    rows = connection.execute(
        sa.select(events.c.id, events.c.external_id, events.c.payload_id, events.c.attributes)
        .where(
            events.c.origin == "stripe",
            events.c.thread_type == "subscription",
            events.c.payload_id.is_not(None),
        )
        .order_by(events.c.payload_id, events.c.id)
    )
    for row in rows:
        stored[row.payload_id][row.external_id] = (row.id, row.attributes or {})
    if not stored:
        return
    from connectors import registry  # the connector as of this code, once needed

    stripe = registry.get("stripe")
    for payload_id, by_key in stored.items():
        payload = connection.execute(
            sa.select(payloads.c.filename, payloads.c.content).where(payloads.c.id == payload_id)
        ).first()
        if payload is None:
            continue
        for external_id, attributes in _read(stripe, payload.content, payload.filename):
            found = by_key.get(external_id)
            if found is None:
                continue
            event_id, old = found
            new = {name: value for name, value in old.items() if name not in PRICE}
            new |= {name: attributes[name] for name in PRICE if name in attributes}
            if new != old:
                connection.execute(
                    events.update().where(events.c.id == event_id).values(attributes=new)
                )


def _read(stripe, content: bytes, filename: str | None):
    """(external id, attributes) of the subscription events the payload's
    subscription records give now; other records are not read."""
    records = [r for r in stripe.parse(content, filename) if _is_subscription(r.data)]
    for start in range(0, len(records), CHUNK):
        batch = stripe.convert_batch(records[start : start + CHUNK])
        for index in range(len(batch.events)):
            event = batch.events.event(index)
            yield event.external_id, event.attributes or {}


def _is_subscription(data) -> bool:
    if not isinstance(data, dict):
        return False
    inner = data.get("data") if isinstance(data.get("data"), dict) else {}
    obj = inner.get("object") if isinstance(inner.get("object"), dict) else data
    return obj.get("object") == "subscription"


def downgrade():
    pass  # the attributes added are what the connector writes; older code ignores them
