"""connections to vendors' APIs and their streams' cursors

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import crm.models.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Time = crm.models.types.UTCDateTime(timezone=True)


def upgrade():
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vendor", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("base_url", sa.String(length=255), nullable=False),
        sa.Column("credentials", sa.LargeBinary(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_run_at", Time, nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.CheckConstraint("status IN ('active', 'paused')", name=op.f("ck_connections_status")),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["ingest_runs.id"],
            name=op.f("fk_connections_last_run_id_ingest_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_connections_name")),
    )
    op.create_table(
        "connection_streams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=60), nullable=False),
        sa.Column("state", Json, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_streams_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_streams")),
        sa.UniqueConstraint(
            "connection_id", "stream", name=op.f("uq_connection_streams_connection_id_stream")
        ),
    )


def downgrade():
    op.drop_table("connection_streams")
    op.drop_table("connections")
