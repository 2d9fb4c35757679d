"""The migrations build the schema the models describe, on either engine."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from crm.extensions import db
from crm.factory import create_app
from tests.conftest import ENGINE
from tests.databases import fresh_database


@pytest.fixture
def empty_database_app(tmp_path):
    with fresh_database(ENGINE, tmp_path) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


def test_upgrade_from_empty_matches_the_models(empty_database_app):
    upgrade()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_removes_every_table(empty_database_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
