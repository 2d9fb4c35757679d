"""entities: partial indexes of open threads by age and by due time, and of closed ones

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

The pre-contact card names the first ten open threads of each section
(oldest first, or soonest due) and counts the rest. Through
ix_entities_open (client_id, type, closed_at) each section fetched and
sorted every open thread of its type: 20,000 open alerts for the first ten.
By (client_id, type, opened_at, id) and (client_id, type, due_at, id), over
open threads only, the first ten are the head of one range. On PostgreSQL
they also carry the columns the flags read (crm.flags), so that a section's
or a flag's count reads the index alone. The latest work finished reads
closed threads by (client_id, closed_at), newest first, with their type and
status.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

OPEN = sa.text("closed_at IS NULL")
CLOSED = sa.text("closed_at IS NOT NULL")
INDEXES = (
    (
        "ix_entities_open_by_age",
        ["client_id", "type", "opened_at", "id"],
        ["due_at", "sla_due_at", "status", "priority", "amount", "currency", "closed_at"],
        OPEN,
    ),
    (
        "ix_entities_open_by_due",
        ["client_id", "type", "due_at", "id"],
        ["opened_at", "status", "amount", "currency", "closed_at"],
        OPEN,
    ),
    ("ix_entities_closed", ["client_id", "closed_at"], ["type", "status"], CLOSED),
)


def upgrade():
    for name, columns, included, condition in INDEXES:
        op.create_index(
            name,
            "entities",
            columns,
            postgresql_include=included,
            postgresql_where=condition,
            sqlite_where=condition,
        )


def downgrade():
    for name, *_ in reversed(INDEXES):
        op.drop_index(name, table_name="entities")
