"""meetings: planned and logged meetings with a client

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import crm.models.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Time = crm.models.types.UTCDateTime


def upgrade():
    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("starts_at", Time(), nullable=False),
        sa.Column("ends_at", Time(), nullable=True),
        sa.Column("attendees", crm.models.types.Json, nullable=False),
        sa.Column("agenda", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("action_items", crm.models.types.Json, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=254), nullable=True),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", Time(), nullable=False),
        sa.Column("logged_at", Time(), nullable=True),
        sa.Column("logged_by", sa.String(length=200), nullable=True),
        sa.Column(
            "event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "kind IN ('roadmap', 'qbr', 'onboarding', 'other')", name="meeting_kind"
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'logged', 'cancelled')", name="meeting_status"
        ),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("origin", "external_id"),
    )
    op.create_index("ix_meetings_client_starts", "meetings", ["client_id", "starts_at"])


def downgrade():
    op.drop_index("ix_meetings_client_starts", table_name="meetings")
    op.drop_table("meetings")
