"""The log of e-mail sent: briefings before meetings and the weekly digest;
to whom, when, which, result."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.meetings.models import Meeting
from crm.models.types import UTCDateTime, utcnow

# pending: due, not yet sent (a failure waits here for its retry);
# sent; failed: given up after MAX_ATTEMPTS, shown on the meeting;
# declined: the recipient stopped this kind of e-mail (/account or its link).
DELIVERY_STATUSES = ("pending", "sent", "failed", "declined")


class Delivery(db.Model):
    __tablename__ = "deliveries"
    # One briefing per meeting and recipient: running `flask deliver` twice sends once.
    __table_args__ = (UniqueConstraint("meeting_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which briefing: its file, and the period it covered.
    briefing: Mapped[str | None] = mapped_column(String(255))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    meeting: Mapped[Meeting] = relationship()


class DigestDelivery(db.Model):
    """One week's digest to one executive (reports.delivery.digest)."""

    __tablename__ = "digest_deliveries"
    # One digest per recipient and week: running `flask deliver` twice sends once.
    __table_args__ = (UniqueConstraint("recipient", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    # The day it was due, in the recipient's time zone: names the week.
    week: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
