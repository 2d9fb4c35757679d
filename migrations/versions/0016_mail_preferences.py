"""mail preferences: who stopped which e-mail; the log of weekly digests sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import crm.models.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Time = crm.models.types.UTCDateTime


def upgrade():
    op.create_table(
        "mail_opt_outs",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", Time(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.CheckConstraint("kind IN ('briefing', 'digest')", name=op.f("ck_mail_opt_outs_kind")),
        sa.PrimaryKeyConstraint("email", "kind"),
    )
    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("due_at", Time(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", Time(), nullable=True),
        sa.Column("sent_at", Time(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recipient", "week"),
    )


def downgrade():
    op.drop_table("digest_deliveries")
    op.drop_table("mail_opt_outs")
