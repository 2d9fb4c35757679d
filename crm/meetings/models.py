"""Meetings with a client: planned ahead (by hand, the API or a calendar
import), then logged once held, which puts them on the timeline.

A meeting is not an event: it has a future, it changes (agenda, attendees,
then notes), and a calendar can move it. Logging it writes the one immutable
`meeting` event the timeline and the briefing's period read (crm.models.is_meeting).
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models import Client
from crm.models.timeline import BigId
from crm.models.types import Json, UTCDateTime, utcnow

# kind -> how people read it.
MEETING_KINDS = {
    "roadmap": "Roadmap meeting",
    "qbr": "Quarterly business review",
    "onboarding": "Onboarding",
    "other": "Meeting",
}
# planned: ahead of us or not yet written up; logged: held, notes on the timeline.
MEETING_STATUSES = ("planned", "logged", "cancelled")
# Who made the meeting: by hand (page or API), or a calendar import.
ORIGINS = ("touchline", "ical")


def _one_of(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Meeting(db.Model):
    __tablename__ = "meetings"
    __table_args__ = (
        CheckConstraint(_one_of("kind", MEETING_KINDS), name="meeting_kind"),
        CheckConstraint(_one_of("status", MEETING_STATUSES), name="meeting_status"),
        # A calendar event (UID and occurrence) imported again updates its meeting.
        UniqueConstraint("origin", "external_id"),
        # The next meeting of a client (card, directory) and its list, by time.
        Index("ix_meetings_client_starts", "client_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="roadmap")
    title: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # [{"email": ..., "name": ..., "ours": bool}], ours = our staff, else theirs.
    attendees: Mapped[list] = mapped_column(Json, default=list)
    agenda: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    # [{"title", "owner", "due_at", "key"}]: the commitments made when logged.
    action_items: Mapped[list] = mapped_column(Json, default=list)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    # Whose meeting: the account manager who owns it (an imported calendar's owner).
    owner: Mapped[str | None] = mapped_column(String(254))
    origin: Mapped[str] = mapped_column(String(40), default="touchline")
    external_id: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    logged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    logged_by: Mapped[str | None] = mapped_column(String(200))
    # The timeline event written when it was logged.
    event_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="SET NULL")
    )

    client: Mapped[Client] = relationship()

    @property
    def kind_label(self) -> str:
        return MEETING_KINDS[self.kind]

    def __repr__(self) -> str:
        return f"<Meeting {self.id} {self.kind} {self.starts_at:%Y-%m-%d}>"
