"""events: ix_events_client_thread by kind and time within each thread

A briefing's times to resolve look up, for each alert cleared in its
period (20,000 a quarter for a busy client), the newest raise of its thread
at or before the clearing. By (client_id, thread_type, thread_key) each
look-up read every event of the thread from the table and kept the raises;
with kind and occurred_at after those it is the end of one range of the
index, read from the index alone. The index is widened rather than doubled:
every look-up by thread still has its prefix, and writes keep one index of
threads to maintain.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06

"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

NAME = "ix_events_client_thread"
THREAD = ["client_id", "thread_type", "thread_key"]


def upgrade():
    op.drop_index(NAME, table_name="events")
    op.create_index(NAME, "events", [*THREAD, "kind", "occurred_at"])


def downgrade():
    op.drop_index(NAME, table_name="events")
    op.create_index(NAME, "events", THREAD)
