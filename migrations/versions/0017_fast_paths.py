"""events: an index of a client's events by kind and time

The pre-contact card reads a client's alerts raised in the last 30 days (its
recurring alerts); through the timeline index that is every event of those
30 days (100,000 for a client of a million events a year) to keep the few
thousand alerts. By (client_id, kind, occurred_at) it is one range of the
alerts alone, and so is any read of one kind of a client's events over time.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 12:45:00

"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_events_client_kind", "events", ["client_id", "kind", "occurred_at"])


def downgrade():
    op.drop_index("ix_events_client_kind", table_name="events")
