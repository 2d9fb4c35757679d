"""deliveries: the log of briefings sent before meetings; users' time zone and working days

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import crm.models.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Time = crm.models.types.UTCDateTime


def upgrade():
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("due_at", Time(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", Time(), nullable=True),
        sa.Column("sent_at", Time(), nullable=True),
        sa.Column("briefing", sa.String(length=255), nullable=True),
        sa.Column("period_start", Time(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", Time(), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "recipient"),
    )
    op.create_index("ix_deliveries_meeting_id", "deliveries", ["meeting_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("working_days", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("working_days")
        batch.drop_column("timezone")
    op.drop_index("ix_deliveries_meeting_id", table_name="deliveries")
    op.drop_table("deliveries")
