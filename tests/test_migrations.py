"""The migrations build the schema the models describe, on either engine."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from crm.extensions import db
from crm.search.index import include_name
from tests.conftest import ENGINE
from tests.databases import fresh_database


def test_upgrade_from_empty_matches_the_models(empty_database_app):
    upgrade()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": True, "include_name": include_name},
        )
        assert compare_metadata(context, db.metadata) == []


# How each engine spells an index it holds, as it would create it again.
INDEX_DEFINITIONS = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    "postgresql": (
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
    ),
}


def test_upgrade_builds_the_indexes_the_models_declare(empty_database_app, tmp_path):
    """What autogenerate does not compare: included columns and partial
    indexes' conditions (ix_events_client_timeline, ix_events_client_meetings)."""
    upgrade()
    with db.engine.connect() as connection:
        migrated = dict(connection.execute(text(INDEX_DEFINITIONS[ENGINE])).all())
    with fresh_database(ENGINE, tmp_path) as url:
        engine = create_engine(url)
        try:
            db.metadata.create_all(engine)
            with engine.connect() as connection:
                declared = dict(connection.execute(text(INDEX_DEFINITIONS[ENGINE])).all())
        finally:
            engine.dispose()
    assert migrated == declared
    assert "ix_events_client_meetings" in declared


def test_downgrade_removes_every_table(empty_database_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
