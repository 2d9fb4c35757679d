"""search: the full-text index of clients, contacts, identities and events

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

SQLite gets contentless FTS5 tables (words, and trigrams of client and
contact names) kept current by triggers, filled here from the rows there
are; PostgreSQL gets the pg_trgm extension and GIN indexes over the same
columns. The statements are crm.search.index's, which `db.create_all()`
runs too, so a migrated database and a created one are the same.
"""

from alembic import op

from crm.search.index import create_statements, drop_statements

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    for statement in create_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade():
    for statement in drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
