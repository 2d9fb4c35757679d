"""entities: partial indexes of every client's open threads by type and age

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06

The portfolio listed its 100 most severe flags by ranking every flagged
thread of every client, 400,000 at 10,000 clients, each severity a CASE to
evaluate. Within one thread type, flag and severity a flag ranks by the
column its age counts from (opened_at, due_at or last_event_at), so the
first hundred are near the head of a range of these indexes, by (type,
column, opened_at, id)
(crm.flags.ranking.most_severe).
"""

import sqlalchemy as sa
from alembic import op

from crm.models.timeline import OPEN_BY_SINCE, OPEN_THREADS

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    for name, columns, included in OPEN_BY_SINCE:
        op.create_index(
            name,
            "entities",
            list(columns),
            postgresql_include=included,
            postgresql_where=sa.text(OPEN_THREADS),
            sqlite_where=sa.text(OPEN_THREADS),
        )


def downgrade():
    for name, *_ in reversed(OPEN_BY_SINCE):
        op.drop_index(name, table_name="entities")
