"""day_counts: each client's events per UTC day and kind; ix_events_client_kind
carries what a briefing reads of a kind's events

A briefing counted a busy client's year of events by kind for its charts,
and its two periods again (a million index entries, 0.7 s on PostgreSQL).
It now reads crm.day_counts' cache, `day_counts`, for the whole days, and
the events for the hours between each edge and its nearer midnight. The
cache is built here from the events with crm.day_counts.rebuild.

A briefing also reads a period's events of a few kinds (40,000 tickets
solved, 20,000 alerts cleared, 80,000 amounts billed in a busy client's two
periods), a table page per event through ix_events_client_kind. On
PostgreSQL the index now carries the columns those read (INCLUDE), so they
read the index alone; SQLite has no INCLUDE, and its index stays as it is.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from crm.day_counts import rebuild
from crm.models.timeline import KIND_INCLUDES

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

KIND_INDEX = "ix_events_client_kind"


def upgrade():
    op.create_table(
        "day_counts",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id", "day", "kind"),
    )
    rebuild(op.get_bind())
    _kind_index(KIND_INCLUDES)


def downgrade():
    _kind_index(None)
    op.drop_table("day_counts")


def _kind_index(included):
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(KIND_INDEX, table_name="events")
    columns = ["client_id", "kind", "occurred_at"]
    op.create_index(KIND_INDEX, "events", columns, postgresql_include=included)
