"""Changing connections: one audited function per change, shared by the
pages, the API and the command line. Each flushes; the caller commits.

Audit entries name the connection and what changed, never its credentials.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.connections import vault
from connectors.connections.models import Connection
from connectors.connections.sources import SOURCES
from connectors.connections.sync import source_of
from connectors.connections.tasks import queue_sync
from connectors.connections.transport import SourceError, Transport
from crm.accounts.operations import audit
from crm.jobs.models import Job


class ConnectionRefused(ValueError):
    """A change that cannot be made; names the field at fault."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


def named(session: Session, name: str) -> Connection | None:
    return session.scalar(select(Connection).where(Connection.name == name))


def listed(session: Session) -> list[Connection]:
    return list(session.scalars(select(Connection).order_by(Connection.name)))


def add(session: Session, data: dict) -> Connection:
    """A new connection from NewConnectionSchema's data, its credentials sealed."""
    if named(session, data["name"]) is not None:
        raise ConnectionRefused("name", f"a connection named {data['name']!r} exists")
    source = SOURCES[data["vendor"]]
    try:
        sealed = vault.seal(data["credentials"])
    except vault.VaultError as error:
        raise ConnectionRefused(None, str(error)) from None
    connection = Connection(
        vendor=data["vendor"],
        name=data["name"],
        base_url=(data.get("base_url") or source.default_base_url).rstrip("/"),
        credentials=sealed,
        interval_minutes=data["interval_minutes"],
        status="active",
    )
    session.add(connection)
    session.flush()
    audit(session, "connection.create", "connection", connection.name, _detail(connection))
    return connection


def check(
    connection: Connection, transport: Transport | None = None
) -> tuple[bool, str | None, str]:
    """Test the connection with a cheap read: (ok, problem kind, message)."""
    try:
        source = source_of(connection, transport)
    except vault.VaultError as error:
        return False, "credentials", str(error)
    except SourceError as error:
        return False, error.kind, str(error)
    try:
        source.check_connection()
    except SourceError as error:
        return False, error.kind, str(error)
    finally:
        source.close()
    return True, None, f"{connection.vendor} answered: the credentials work"


def test(session: Session, connection: Connection) -> tuple[bool, str | None, str]:
    """`check`, audited (whether it worked and the kind of problem, no more)."""
    ok, problem, message = check(connection)
    audit(session, "connection.test", "connection", connection.name, {"ok": ok, "problem": problem})
    return ok, problem, message


def sync_now(session: Session, connection: Connection, started_by: str) -> Job:
    """A sync job, audited, committed and sent (see tasks.queue_sync)."""
    audit(session, "connection.sync", "connection", connection.name)
    return queue_sync(connection, started_by)


def pause(session: Session, connection: Connection, reason: str | None = None) -> None:
    connection.status = "paused"
    connection.status_reason = reason or "paused by an admin"
    audit(session, "connection.pause", "connection", connection.name, {"reason": reason})


def resume(session: Session, connection: Connection) -> None:
    """Active again, due at once, its failures forgotten."""
    connection.status, connection.status_reason = "active", None
    connection.failures, connection.next_run_at = 0, None
    audit(session, "connection.resume", "connection", connection.name)


def delete(session: Session, connection: Connection) -> None:
    """The connection and its cursors; what it ingested stays."""
    audit(session, "connection.delete", "connection", connection.name, _detail(connection))
    session.delete(connection)


def rotate_keys(session: Session) -> int:
    """Every connection's credentials encrypted again under the first key."""
    connections = listed(session)
    for connection in connections:
        connection.credentials = vault.reseal(connection.credentials)
    audit(session, "connection.rotate_key", detail={"connections": len(connections)})
    return len(connections)


def webhook_secret_for(session: Session, vendor: str) -> str | None:
    """The webhook signing secret (or, for SendGrid, verification key) that
    a connection of this vendor holds as its `webhook_secret` credential;
    None when none does (the caller then reads TOUCHLINE_WEBHOOK_SECRET_<NAME>).
    An active connection wins over a paused one, then the oldest."""
    connections = session.scalars(
        select(Connection)
        .where(Connection.vendor == vendor)
        .order_by(Connection.status != "active", Connection.id)
    )
    for connection in connections:
        try:
            secret = vault.unseal(connection.credentials).get("webhook_secret")
        except vault.VaultError:
            continue
        if secret:
            return secret
    return None


def _detail(connection: Connection) -> dict:
    return {
        "vendor": connection.vendor,
        "base_url": connection.base_url,
        "interval_minutes": connection.interval_minutes,
    }
