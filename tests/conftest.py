"""Fixtures: a fresh database per test session, emptied after every test.

`client` is signed in as an account holding every role, with a session for
the pages and an API token for the API, so a test of a page or endpoint is
about that page, not about access; tests/test_access_policy.py is about
access. `login_as("staff")` gives a client of one role, `anonymous` one that
never signed in, `api_as("executive")` one that only sends a Bearer token.
CSRF checks are off in the `app` fixture (tests post forms without the
token); the tests of CSRF itself turn them on.

`TOUCHLINE_TEST_ENGINE=postgresql` runs the suite on PostgreSQL: a database
of its own is created next to TOUCHLINE_TEST_POSTGRES_URL's and dropped at the
end, so two runs never collide. Otherwise each session gets a SQLite file.
"""

import os
import threading

import pytest
from aiosmtpd.controller import Controller

from crm.extensions import db
from factory import create_app
from tests.accounts import FAST_HASH, make_user, signed_in_client, token_for, with_token
from tests.databases import fresh_database
from tests.mailserver import Inbox, free_port

ENGINE = os.environ.get("TOUCHLINE_TEST_ENGINE", "sqlite")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with fresh_database(ENGINE, tmp_path_factory.mktemp("db")) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        yield url


def _test_app(database_url: str):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "INGEST_BATCH_SIZE": 50,
            # One process: tests/test_parallel_ingest.py asks for more itself.
            "INGEST_PROCESSES": 1,
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": FAST_HASH,
        }
    )


@pytest.fixture
def empty_database_app(tmp_path):
    """An app on a database of its own with no tables, for migration tests."""
    with fresh_database(ENGINE, tmp_path) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def _shared_app(database_url):
    """One app for the session: building one (its OpenAPI document above
    all) costs ~0.1 s, which a test each would pay some 700 times a run."""
    return _test_app(database_url)


@pytest.fixture
def app(request, _shared_app, database_url):
    """The app, with its settings and extensions as built: whatever a test
    changes in them is put back after it, and its data is emptied. A test
    marked `fresh_app` (one that adds routes, which Flask allows only before
    the first request) gets an app of its own."""
    fresh = request.node.get_closest_marker("fresh_app") is not None
    app = _test_app(database_url) if fresh else _shared_app
    config, extensions = dict(app.config), dict(app.extensions)
    with app.app_context():
        yield app
        _join_job_threads()
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()
    app.config.clear()
    app.config.update(config)
    app.extensions.clear()
    app.extensions.update(extensions)


def _join_job_threads(timeout: float = 120) -> None:
    """Let a job a test started in a thread (a batch without Redis) end before
    the tables are emptied: left running, it would write its job's row, whose
    id the next test's first job takes again, and that test would read it."""
    for thread in threading.enumerate():
        if thread.name.startswith("touchline-job-"):
            thread.join(timeout)


def _empty_all_tables() -> None:
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def client(app):
    """Signed in (session and API token) as an account with every role."""
    user = make_user(email="everyone@touchline.test", name="Test Everyone")
    return with_token(signed_in_client(app, user), token_for(user))


@pytest.fixture
def login_as(app):
    """login_as("staff", "executive") -> a client signed in with just those roles;
    token=True adds an API token of that account, as `client` has."""

    def signed_in(*roles: str, token: bool = False):
        user = make_user(*roles)
        http = signed_in_client(app, user)
        return with_token(http, token_for(user)) if token else http

    return signed_in


@pytest.fixture
def api_as(app):
    """api_as("manager") -> a client that sends only a Bearer token of an
    account with those roles (no session)."""

    def with_roles(*roles: str):
        return with_token(app.test_client(), token_for(make_user(*roles)))

    return with_roles


@pytest.fixture
def anonymous(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    return db.session


@pytest.fixture
def smtp_server(app):
    """A real SMTP server (aiosmtpd) on a free port, and the app sending to it;
    its `messages` are (recipients, raw bytes) as received."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    app.config["MAIL_FROM"] = "touchline@ourmsp.example"
    try:
        yield inbox
    finally:
        controller.stop()
