"""Engine-level set-up and the few statements that differ per engine."""

from collections.abc import Iterable, Sequence

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL so readers never block the ingest writer; foreign keys enforced.

    SQLite leaves foreign keys off unless every connection asks for them.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _insert(session: Session, table: Table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict], keys: Iterable[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, on either engine."""
    if rows:
        statement = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys))
        session.execute(statement, rows)


def upsert(session: Session, table: Table, rows: Sequence[dict], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other given column."""
    if not rows:
        return
    statement = _insert(session, table)
    updates = {
        name: statement.excluded[name] for name in rows[0] if name not in keys and name != "id"
    }
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)
