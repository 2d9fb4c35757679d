"""Fixtures: a fresh database per test session, emptied after every test.

`TOUCHLINE_TEST_ENGINE=postgresql` runs the suite on PostgreSQL: a database
of its own is created next to TOUCHLINE_TEST_POSTGRES_URL's and dropped at the
end, so two runs never collide. Otherwise each session gets a SQLite file.
"""

import os

import pytest

from crm.extensions import db
from crm.factory import create_app
from tests.databases import fresh_database

ENGINE = os.environ.get("TOUCHLINE_TEST_ENGINE", "sqlite")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with fresh_database(ENGINE, tmp_path_factory.mktemp("db")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        yield url


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "INGEST_BATCH_SIZE": 50,
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


def _empty_all_tables() -> None:
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    return db.session
