"""a connection's sync lease: one sync of a connection at a time

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

import crm.models.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("connections") as batch_op:
        batch_op.add_column(
            sa.Column("sync_lease_at", crm.models.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("connections") as batch_op:
        batch_op.drop_column("sync_lease_at")
