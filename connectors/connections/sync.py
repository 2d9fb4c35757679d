"""One sync of a connection: an ingest run fed page by page from its source's
streams, each page's cursor saved in the commit that stores the page.

So a sync killed anywhere resumes from the last committed page: the page in
flight was stored with neither its records nor its cursor, and is fetched
again (nothing written twice, nothing skipped). A sync that fails is counted;
MAX_FAILURES in a row, or one a new attempt cannot mend (a revoked key, a
missing scope), pause the connection with the reason.

One sync of a connection runs at a time (`flask sync` from cron beside a
worker's scheduled job, two admins' "sync now"): a sync first takes the
connection's lease in one conditional UPDATE, which only one of two racing
transactions can win, and renews it with every page it commits.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session

from connectors import registry
from connectors.connections import oauth, vault
from connectors.connections.models import Connection, StreamState
from connectors.connections.page_lines import page_line
from connectors.connections.sources import SOURCES, Source
from connectors.connections.transport import SourceError, Transport
from connectors.pipeline import Pipeline
from connectors.pipeline.runs import fail, finish, start_run
from connectors.readers import UnreadableInput
from crm.heartbeat import stale_after
from crm.models import IngestRun
from crm.models.types import utcnow

MAX_FAILURES = 3


class SyncBusy(Exception):
    """Another sync of the connection holds its lease: this one did not start."""

    def __init__(self, connection: Connection, since: datetime | None):
        when = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
        super().__init__(f"{connection.name} is already syncing{when}; this sync did not start")


def source_of(connection: Connection, transport: Transport | None = None) -> Source:
    """The connection's source, with its credentials decrypted (held only by
    it); an OAuth token it refreshes is saved at once."""
    credentials = vault.unseal(connection.credentials)
    session = object_session(connection)

    def on_token(token: dict) -> None:
        if session is not None:
            oauth.save_token(session, connection, token)

    source = SOURCES[connection.vendor]
    if source.oauth is None:
        return source(connection.base_url, credentials, transport)
    return source(connection.base_url, credentials, transport, on_token)


def due(session: Session, now: datetime | None = None) -> list[Connection]:
    """Active connections whose next run has come (or that never ran)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Connection)
            .where(
                Connection.status == "active",
                (Connection.next_run_at.is_(None)) | (Connection.next_run_at <= now),
                _lease_free(now),
            )
            .order_by(Connection.next_run_at.is_not(None), Connection.next_run_at, Connection.id)
        )
    )


def sync(
    session: Session,
    connection: Connection,
    started_by: str,
    on_progress: Callable[[int], None] | None = None,
    transport: Transport | None = None,
    processes: int = 1,
) -> IngestRun:
    """Pull every stream from its saved cursor; the run, finished or failed
    (with the connection's failure counted, and it paused if it must).
    Raises SyncBusy, having changed nothing, while another sync runs.
    `processes` > 1: the pages are read by that many worker processes while
    this one fetches (connectors.connections.page_lines)."""
    on_progress = on_progress or (lambda done: None)
    _take_lease(session, connection)
    connector = registry.get(connection.vendor)
    run = start_run(session, connector.name, started_by, f"connection {connection.name}", None)
    connection.last_run_id = run.id
    session.commit()
    try:
        source = source_of(connection, transport)
        try:
            with page_line(session, connector, run.id, connection, processes, on_progress) as line:
                for stream in source.streams():
                    saved = _state(session, connection, stream.name)
                    for page in stream.pages(dict(saved.state)):
                        line.put(saved, page)
                learnt = line.finish()
        finally:
            source.close()
    except (SourceError, vault.VaultError, UnreadableInput) as error:
        _failed(session, connection, run, error)
        return run
    except BaseException as error:
        _failed(session, connection, run, error)
        raise
    finish(session, run)
    connection.sync_lease_at = None
    connection.failures, connection.last_error = 0, None
    connection.next_run_at = _next(connection)
    session.commit()
    Pipeline(session).replay_matching(learnt, started_by=f"{started_by} (new identities)")
    return run


def _lease_free(now: datetime):
    """No sync holds the lease, or its holder stopped renewing it (killed)."""
    return Connection.sync_lease_at.is_(None) | (Connection.sync_lease_at < now - stale_after())


def _take_lease(session: Session, connection: Connection) -> None:
    """Take the connection's lease and commit, or raise SyncBusy. One UPDATE
    whose condition reads only the row it writes: of two transactions racing
    for it, PostgreSQL re-checks the second against the first's committed
    row, and SQLite lets one writer at a time, so exactly one wins."""
    now = utcnow()
    taken = session.execute(
        update(Connection)
        .where(Connection.id == connection.id, _lease_free(now))
        .values(sync_lease_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()  # expires `connection`: it is read again as committed
    if not taken:
        raise SyncBusy(connection, connection.sync_lease_at)


def _state(session: Session, connection: Connection, stream: str) -> StreamState:
    saved = session.scalar(
        select(StreamState).where(
            StreamState.connection_id == connection.id, StreamState.stream == stream
        )
    )
    if saved is None:
        saved = StreamState(connection_id=connection.id, stream=stream, state={})
        session.add(saved)
        session.commit()  # a worker process moves the cursor in this row
    return saved


def _failed(session: Session, connection: Connection, run: IngestRun, error: BaseException):
    message = (
        str(error)
        if isinstance(error, SourceError | vault.VaultError)
        else (f"{type(error).__name__}: {error}")
    )
    fail(session, run, message)  # rolls back the page in flight first
    connection.sync_lease_at = None
    connection.failures += 1
    connection.last_error = message
    connection.next_run_at = _next(connection)
    lasting = isinstance(error, vault.VaultError) or getattr(error, "lasting", False)
    if lasting or connection.failures >= MAX_FAILURES:
        connection.status = "paused"
        connection.status_reason = (
            message if lasting else f"paused after {connection.failures} failed syncs: {message}"
        )
    session.commit()


def _next(connection: Connection) -> datetime:
    return utcnow() + timedelta(minutes=connection.interval_minutes)
