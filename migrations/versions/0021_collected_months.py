"""collected_months: the money each client paid per month; indexes of payments,
tickets and open threads

The portfolio report summed every payment of the year of every client: at
10,000 clients and 10 million events a scan of the events of seconds. It now
reads crm.collected's monthly cache, `collected_months`, for the whole months
of its period, and the events for its partial edge months only, through
`ix_events_collected` (the payments alone, by time). The cache is built here
from the events with crm.collected.rebuild, the rule's own recomputation.

`ix_entities_tickets_opened` finds every client's tickets opened in a period,
`ix_entities_open_threads` every client's open threads of a type (which alone
can raise a flag, with the columns the flag rules read), and
`ix_events_alerts_raised` the alerts raised in the last 30 days (recurring
alerts): each read a whole table before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from crm.collected import rebuild
from crm.models.timeline import (
    ALERTS_RAISED,
    COLLECTED,
    OPEN_THREAD_COLUMNS,
    OPEN_THREADS,
    TICKETS,
)
from crm.models.types import MoneySum

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "collected_months",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount", MoneySum(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id", "currency", "month"),
    )
    op.create_index(
        "ix_events_collected",
        "events",
        ["occurred_at"],
        postgresql_include=["client_id", "currency", "amount", "kind"],
        postgresql_where=sa.text(COLLECTED),
        sqlite_where=sa.text(COLLECTED),
    )
    op.create_index(
        "ix_events_alerts_raised",
        "events",
        ["occurred_at"],
        postgresql_where=sa.text(ALERTS_RAISED),
        sqlite_where=sa.text(ALERTS_RAISED),
    )
    op.create_index(
        "ix_entities_tickets_opened",
        "entities",
        ["opened_at"],
        postgresql_include=["client_id", "category", "closed_at", "sla_due_at", "type"],
        postgresql_where=sa.text(TICKETS),
        sqlite_where=sa.text(TICKETS),
    )
    op.create_index(
        "ix_entities_open_threads",
        "entities",
        ["type", "client_id"],
        postgresql_include=OPEN_THREAD_COLUMNS,
        postgresql_where=sa.text(OPEN_THREADS),
        sqlite_where=sa.text(OPEN_THREADS),
    )
    rebuild(op.get_bind())


def downgrade():
    op.drop_index("ix_entities_open_threads", table_name="entities")
    op.drop_index("ix_entities_tickets_opened", table_name="entities")
    op.drop_index("ix_events_alerts_raised", table_name="events")
    op.drop_index("ix_events_collected", table_name="events")
    op.drop_table("collected_months")
