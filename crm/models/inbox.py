"""What came in: raw payloads, the records that were not simply accepted, runs."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.heartbeat import shown_status
from crm.models.types import Json, UTCDateTime, utcnow

INBOX_STATUSES = ("duplicate", "skipped", "rejected", "unmatched", "replayed")
RUN_COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")
# A run that read the whole file and found nothing in it did not fail, but
# "finished, 0 records" reads as success: usually the wrong file, an export
# of the wrong period, or a format the connector does not recognise.
EMPTY_RUN_WARNING = (
    "The file held no records, so nothing was imported. Check that it is the export you "
    "meant (not an empty one, or one of another system) and that the connector reads its format."
)


class RawPayload(db.Model):
    """A file or request body exactly as received, stored once.

    Records point into it by position, so nothing needs copying per record;
    the same bytes received twice share one row (found by their SHA-256).
    The bytes themselves are its parts (RawPayloadPart), in order.
    """

    __tablename__ = "raw_payloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    parts: Mapped[list["RawPayloadPart"]] = relationship(
        order_by="RawPayloadPart.seq", cascade="all, delete-orphan", passive_deletes=True
    )


class RawPayloadPart(db.Model):
    """A run of a raw payload's bytes, at most PART_BYTES long.

    Why parts: neither database keeps a value over 1 GB (SQLite's default
    SQLITE_MAX_LENGTH, PostgreSQL's bytea), and a year's ticket export is
    bigger (a million Zendesk tickets: 1.6 GB). One value would refuse it and
    the import would fail; parts keep any size, and a small body is one part.
    """

    __tablename__ = "raw_payload_parts"

    payload_id: Mapped[int] = mapped_column(
        ForeignKey("raw_payloads.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class IngestRun(db.Model):
    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(40))
    started_by: Mapped[str] = mapped_column(String(120))
    source_name: Mapped[str | None] = mapped_column(String(255))
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("raw_payloads.id"))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    duplicate: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    unmatched: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Written with every committed batch (crm.heartbeat).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # The background job that ran it, if one did: its next run resumes this one.
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )

    payload: Mapped[RawPayload | None] = relationship()

    @property
    def shown_status(self) -> str:
        """The status, or `interrupted` when its process stopped mid-run."""
        return shown_status(self.status, self.heartbeat_at)

    @property
    def warning(self) -> str | None:
        """What a finished run should tell whoever started it, though nothing failed."""
        if self.status == "finished" and not self.total:
            return EMPTY_RUN_WARNING
        return None

    def counts(self) -> dict[str, int]:
        return {"total": self.total} | {name: getattr(self, name) for name in RUN_COUNTS}

    def summary(self) -> dict:
        """What `flask ingest --json` and the webhook endpoint answer; `warning`
        only when there is one."""
        summary = {"run_id": self.id, "connector": self.connector, "status": self.status}
        warning = {"warning": self.warning} if self.warning else {}
        return summary | self.counts() | warning


class InboxRecord(db.Model):
    """A received record that was not simply accepted, and why.

    `record` keeps the record as parsed from its payload so that it can be
    read and replayed without re-parsing the whole file.
    """

    __tablename__ = "inbox_records"
    # Serves the queues by status and finding a record already waiting.
    __table_args__ = (Index("ix_inbox_records_status", "status", "connector", "natural_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("raw_payloads.id"))
    connector: Mapped[str] = mapped_column(String(40))
    position: Mapped[int]
    locator: Mapped[str] = mapped_column(String(40))  # "line 7", "index 3"
    status: Mapped[str] = mapped_column(String(16))
    field: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    natural_key: Mapped[str | None] = mapped_column(String(255))
    record: Mapped[dict] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hints: Mapped[list["InboxHint"]] = relationship(
        back_populates="record", cascade="all, delete-orphan"
    )


class InboxHint(db.Model):
    """An identity an unmatched record named, so mapping it finds the record."""

    __tablename__ = "inbox_hints"
    __table_args__ = (Index("ix_inbox_hints_identity", "system", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_records.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(254))

    record: Mapped[InboxRecord] = relationship(back_populates="hints")
