"""events: the timeline index carries the kind on PostgreSQL; an index of meetings

The briefing counts a client's events per month and kind over a year: with the
kind in the timeline index PostgreSQL answers that from the index alone. The
last meeting before a day starts a briefing's period; a partial index finds it
without walking the timeline back to it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MEETINGS = sa.text("kind = 'meeting'")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_events_client_timeline", table_name="events")
        op.create_index(
            "ix_events_client_timeline",
            "events",
            ["client_id", "occurred_at", "id"],
            postgresql_include=["kind"],
        )
    op.create_index(
        "ix_events_client_meetings",
        "events",
        ["client_id", "occurred_at"],
        postgresql_where=MEETINGS,
        sqlite_where=MEETINGS,
        
    )


def downgrade():
    op.drop_index("ix_events_client_meetings", table_name="events")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_events_client_timeline", table_name="events")
        op.create_index("ix_events_client_timeline", "events", ["client_id", "occurred_at", "id"])
