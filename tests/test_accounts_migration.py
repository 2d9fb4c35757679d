"""Migration 0002 adds the account tables to a database that has data, and
takes them away again without touching the rest."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from crm.extensions import db

ACCOUNT_TABLES = {"users", "user_roles", "api_tokens", "audit_entries", "login_attempts"}


def test_0002_upgrades_a_database_with_clients_and_downgrades_cleanly(empty_database_app):
    upgrade(revision="0001")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO clients (slug, name, tier, timezone, status, created_at) "
                "VALUES ('acme', 'Acme', 'key', 'UTC', 'active', CURRENT_TIMESTAMP)"
            )
        )
    assert not ACCOUNT_TABLES & set(inspect(db.engine).get_table_names())

    upgrade(revision="0002")
    assert set(inspect(db.engine).get_table_names()) >= ACCOUNT_TABLES
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT slug FROM clients")).scalars().all() == ["acme"]
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        )

    downgrade(revision="0001")
    db.engine.dispose()
    tables = set(inspect(db.engine).get_table_names())
    assert not ACCOUNT_TABLES & tables and "clients" in tables
