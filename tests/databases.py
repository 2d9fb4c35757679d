"""Throwaway databases for the suite and for migration tests."""

import contextlib
import os
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


def postgres_base_url() -> str:
    url = os.environ.get("TOUCHLINE_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError("TOUCHLINE_TEST_ENGINE=postgresql needs TOUCHLINE_TEST_POSTGRES_URL")
    return url


@contextlib.contextmanager
def fresh_database(engine: str, directory: Path):
    """Yield the URL of a new, empty database; drop it afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{directory / f'touchline-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = make_url(postgres_base_url())
    name = f"touchline_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
