"""search speed: PostgreSQL's event index also holds each event's stretch of ids

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

The search looks for the newest matching events among the newest stretch
of 65,536 ids first (crm.search.engines), which the GIN index over events
can only answer when each event's document holds its stretch as a lexeme
(`#<id >> 16>`, which no text can spell). The index is built again with it.
SQLite's FTS5 tables answer newest-first by rowid already and do not change.
"""

from alembic import op

from crm.search.index import BY_NAME, pg_create_index

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# The document migration 0011 indexed, before the stretch was added.
WORDS_ONLY = (
    "to_tsvector('simple'::regconfig, regexp_replace(coalesce(detail, '') || ' ' || "
    "coalesce(thread_key, '') || ' ' || coalesce(title, ''), '[\\s!-/:-@\\[-`{-~]+', ' ', 'g'))"
)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS search_events")
        op.execute(pg_create_index(BY_NAME["search_events"]))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS search_events")
        op.execute(f"CREATE INDEX search_events ON events USING gin ({WORDS_ONLY})")
