"""A job: one piece of background work, what it has done so far and how it ended."""

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.heartbeat import shown_status
from crm.models.types import Json, UTCDateTime, utcnow

STATUSES = ("queued", "running", "done", "failed")
FINISHED = ("done", "failed")


class Job(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_jobs_started_by", "started_by", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the job does, e.g. "webhook", "ingest", "briefings"
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    title: Mapped[str] = mapped_column(String(200), default="")
    # Units of work done so far out of `total` (records, briefings); total is
    # NULL until the job knows it.
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column()
    # What the task needs to run again after a restart, and what it made.
    params: Mapped[dict] = mapped_column(Json, default=dict)
    result: Mapped[dict | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(Text)
    # The account's email, or "webhook:<connector>" for a vendor's delivery.
    started_by: Mapped[str] = mapped_column(String(254))
    # One job per key: a second request for the same work (a webhook delivered
    # twice) finds the first job instead of starting another.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written as the job makes progress (crm.heartbeat), under the lease of
    # the one worker running it: a second delivery takes a job over only
    # when its heartbeat has stopped.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease: Mapped[str | None] = mapped_column(String(32))

    @property
    def shown_status(self) -> str:
        """The status, or `interrupted` when its worker stopped mid-job."""
        return shown_status(self.status, self.heartbeat_at or self.started_at)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.status == "done" else None
        return min(100, round(100 * self.done / self.total))
