"""The log of briefings sent before meetings: to whom, when, which, result."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.meetings.models import Meeting
from crm.models.types import UTCDateTime, utcnow

# pending: due, not yet sent (a failure waits here for its retry);
# sent; failed: given up after MAX_ATTEMPTS, shown on the meeting.
DELIVERY_STATUSES = ("pending", "sent", "failed")


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
