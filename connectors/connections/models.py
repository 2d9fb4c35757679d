"""A connection (one account in one vendor system) and the cursor of each of
its streams.

The credentials column holds a Fernet token (see vault.py), never the key
itself. A stream's cursor is written in the transaction that commits the
batch it produced (connectors.connections.sync), so after a crash the saved
cursor is always the one the stored records reached.
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models import IngestRun
from crm.models.types import Json, UTCDateTime, utcnow

STATUSES = ("active", "paused")
DEFAULT_INTERVAL_MINUTES = 15


class Connection(db.Model):
    __tablename__ = "connections"
    __table_args__ = (CheckConstraint(f"status IN {STATUSES}", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The connector its records go through (zendesk, stripe, ...).
    vendor: Mapped[str] = mapped_column(String(40))
    # Unique, chosen by the admin: `flask sync NAME`.
    name: Mapped[str] = mapped_column(String(60), unique=True)
    # Where its API answers: the vendor's by default, a tenant's subdomain,
    # or a sandbox or test server.
    base_url: Mapped[str] = mapped_column(String(255))
    # Fernet token of the JSON credentials; write-only through the app.
    credentials: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    interval_minutes: Mapped[int] = mapped_column(default=DEFAULT_INTERVAL_MINUTES)
    status: Mapped[str] = mapped_column(String(10), default="active")
    # Why it is paused: an admin's pause, or the error it kept failing with.
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Syncs that failed in a row; at MAX_FAILURES the connection pauses.
    failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Held by the one sync running now: set when it starts, renewed with each
    # page it commits, cleared when it ends. A sync asking while another holds
    # a lease fresher than crm.heartbeat's stale_after() is refused (two syncs
    # of one connection would fetch the same pages and race for the cursor);
    # a lease left by a killed process goes stale and the next sync takes it.
    sync_lease_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("ingest_runs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    last_run: Mapped[IngestRun | None] = relationship()
    streams: Mapped[list["StreamState"]] = relationship(
        back_populates="connection",
        cascade="all, delete-orphan",
        order_by="StreamState.stream",
    )

    def cursors(self) -> dict[str, dict]:
        return {state.stream: state.state for state in self.streams}


class StreamState(db.Model):
    """Where one stream of a connection has got to, in the vendor's own terms
    (an export cursor, an event id, a backfill's last object)."""

    __tablename__ = "connection_streams"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(60))
    state: Mapped[dict] = mapped_column(Json, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    connection: Mapped[Connection] = relationship(back_populates="streams")
