"""Plan a meeting, log it once held, and find each client's next one.

One audited service function per change (`meeting.create`, `meeting.log`),
as everywhere in crm: they flush and never commit, so the caller (a page,
the API, the calendar import) decides whether the whole change goes in.
Input a meeting cannot take raises MeetingError naming the field.

Logging a meeting writes a `meeting` event on the timeline at the time the
meeting started (crm.timeline.touches.log_touch): the briefing's period
starts at the last such event, so the next briefing starts from this meeting.
Each action item becomes a commitment (make_commitment) owned by the person
named, due when it is due: the card, the flags and the briefing then follow
it as any other promise.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import getaddresses

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.accounts.operations import audit
from crm.errors import FieldError
from crm.meetings.models import MEETING_KINDS, Meeting
from crm.models import Client
from crm.models.types import utcnow
from crm.timeline.touches import TouchError, log_touch, make_commitment

TITLE_MAX = 500
# A meeting may be written up from a few minutes before its calendar time:
# clocks differ, and meetings start early.
EARLY = timedelta(minutes=15)


class MeetingError(FieldError):
    """Input a meeting cannot take; `field` names it ("starts_at",
    "action_items.1.due_at"), `status` is the HTTP status it deserves."""

    def __init__(self, field: str | None, message: str, status: int = 422):
        super().__init__(field, message)
        self.status = status


def parse_attendees(value) -> list[dict]:
    """Attendees from what people type or send: "Ana <ana@x.pt>, bob@y.com"
    (lines or commas), or a list of such strings or of {"email", "name"}.
    Each e-mail once, lower-cased; `ours` is decided later (mark_ours)."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    found: dict[str, dict] = {}
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            pairs = [(str(item.get("name") or ""), str(item.get("email") or ""))]
        else:
            pairs = getaddresses([str(item).replace("\n", ",")])
        for name, address in pairs:
            address = address.strip().lower().removeprefix("mailto:")
            if not address and not name.strip():
                continue
            if "@" not in address or " " in address:
                raise MeetingError(f"attendees.{index}", f"{address or name!r} is not an e-mail")
            found.setdefault(address, {"email": address, "name": name.strip() or None})
    return list(found.values())


def mark_ours(session: Session, attendees: list[dict]) -> list[dict]:
    """Each attendee with `ours`: whether the address is one of our accounts."""
    emails = [a["email"] for a in attendees]
    staff = (
        set(session.scalars(select(User.email).where(User.email.in_(emails)))) if emails else set()
    )
    return [a | {"ours": a["email"] in staff} for a in attendees]


def create_meeting(
    session: Session, client: Client, data: Mapping, *, actor: str, origin: str = "touchline"
) -> Meeting:
    """A planned meeting with the client from `data` (kind, title, starts_at,
    ends_at, attendees, agenda, owner, external_id); audited as meeting.create."""
    meeting = Meeting(client=client, origin=origin, created_by=actor, status="planned")
    _apply(session, meeting, data)
    session.add(meeting)
    session.flush()
    audit(session, "meeting.create", "client", client.slug, _summary(meeting, origin))
    return meeting


def update_planned(session: Session, meeting: Meeting, data: Mapping) -> bool:
    """Bring a planned meeting in line with `data` (a calendar moved it);
    whether anything changed. A logged meeting is history and is kept."""
    if meeting.status != "planned":
        return False
    before = _fields(meeting)
    _apply(session, meeting, {"kind": meeting.kind} | dict(data))
    if _fields(meeting) == before:
        return False
    session.flush()
    audit(
        session, "meeting.update", "client", meeting.client.slug, _summary(meeting, meeting.origin)
    )
    return True


def log_meeting(
    session: Session, meeting: Meeting, data: Mapping, *, now: datetime | None = None
) -> Meeting:
    """Write up a held meeting from `data` (notes, outcome, actor,
    action_items): notes and outcome on the timeline at its start, each action
    item ({title, owner, due_at}) a commitment; audited as meeting.log."""
    now = now or utcnow()
    actor = (data.get("actor") or "").strip()
    if not actor:
        raise MeetingError("actor", "is required: who writes the meeting up")
    notes, outcome = data.get("notes"), data.get("outcome")
    if meeting.status == "logged":
        raise MeetingError(None, "this meeting is logged already", status=409)
    if meeting.starts_at > now + EARLY:
        raise MeetingError("starts_at", "is ahead: log a meeting once it has been held", 409)
    notes, outcome = (notes or "").strip() or None, (outcome or "").strip() or None
    if not notes and not outcome:
        raise MeetingError("notes", "say what was discussed or decided (notes or outcome)")
    items = list(data.get("action_items") or ())
    client = meeting.client
    try:
        event = log_touch(
            session,
            client,
            kind="meeting",
            title=f"{meeting.kind_label}: {meeting.title}"[:TITLE_MAX],
            text=timeline_text(notes, outcome),
            actor=actor,
            occurred_at=min(meeting.starts_at, now),
            now=now,
        )
        made = []
        for index, item in enumerate(items):
            owner = (item.get("owner") or "").strip() or actor
            commitment = _action_item(session, client, meeting, item, owner, index, now)
            made.append(
                {
                    "title": commitment.title,
                    "owner": owner,
                    "due_at": commitment.due_at.isoformat(),
                    "key": commitment.key,
                }
            )
    except TouchError as error:
        raise MeetingError(error.field, error.message) from error
    meeting.notes, meeting.outcome, meeting.action_items = notes, outcome, made
    meeting.status, meeting.logged_at, meeting.logged_by = "logged", now, actor
    meeting.event_id = event.id
    session.flush()
    detail = {"meeting": meeting.id, "event": event.id, "commitments": [m["key"] for m in made]}
    audit(session, "meeting.log", "client", client.slug, detail)
    return meeting


def timeline_text(notes: str | None, outcome: str | None) -> str:
    """What the timeline event says: the notes, then the outcome."""
    parts = [notes] if notes else []
    if outcome:
        parts.append(f"Outcome: {outcome}")
    return "\n\n".join(parts)


def next_meetings(session: Session, client_ids: Iterable[int], now: datetime) -> dict:
    """client id -> its next planned meeting (starting at or after `now`), for
    the clients of `client_ids` that have one: the card and the directory."""
    ids = list(client_ids)
    if not ids:
        return {}
    first = (
        select(Meeting.client_id, func.min(Meeting.starts_at).label("starts_at"))
        .where(Meeting.client_id.in_(ids), Meeting.status == "planned", Meeting.starts_at >= now)
        .group_by(Meeting.client_id)
        .subquery()
    )
    rows = session.scalars(
        select(Meeting)
        .join(
            first,
            (Meeting.client_id == first.c.client_id) & (Meeting.starts_at == first.c.starts_at),
        )
        .where(Meeting.status == "planned")
        .order_by(Meeting.id)
    )
    found: dict[int, Meeting] = {}
    for meeting in rows:
        found.setdefault(meeting.client_id, meeting)
    return found


def client_meetings(session: Session, client_id: int, *, limit: int = 50) -> list[Meeting]:
    """A client's meetings, the latest first (the planned ones ahead on top)."""
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.client_id == client_id)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc())
            .limit(limit)
        )
    )


def find_meeting(session: Session, client: Client, meeting_id: int) -> Meeting | None:
    return session.scalar(
        select(Meeting).where(Meeting.id == meeting_id, Meeting.client_id == client.id)
    )


# --- helpers ---------------------------------------------------------------------


def _apply(session: Session, meeting: Meeting, data: Mapping) -> None:
    kind = data.get("kind") or "roadmap"
    if kind not in MEETING_KINDS:
        raise MeetingError("kind", f"must be one of {', '.join(MEETING_KINDS)}, not {kind!r}")
    title = (data.get("title") or "").strip() or MEETING_KINDS[kind]
    starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
    if starts_at is None:
        raise MeetingError("starts_at", "is required: say when the meeting is")
    for field, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if moment is not None and moment.tzinfo is None:
            raise MeetingError(field, "needs a time zone")
    if ends_at is not None and ends_at < starts_at:
        raise MeetingError("ends_at", "is before the start")
    meeting.kind, meeting.title = kind, title[:TITLE_MAX]
    meeting.starts_at, meeting.ends_at = starts_at, ends_at
    meeting.attendees = mark_ours(session, parse_attendees(data.get("attendees")))
    meeting.agenda = (data.get("agenda") or "").strip() or None
    owner = (data.get("owner") or "").strip().lower()
    meeting.owner = owner or meeting.owner
    meeting.external_id = data.get("external_id") or meeting.external_id


def _fields(meeting: Meeting) -> tuple:
    return (
        meeting.kind,
        meeting.title,
        meeting.starts_at,
        meeting.ends_at,
        meeting.attendees,
        meeting.agenda,
    )


def _summary(meeting: Meeting, via: str) -> dict:
    return {
        "meeting": meeting.id,
        "kind": meeting.kind,
        "starts_at": meeting.starts_at.isoformat(),
        "via": via,
    }


def _action_item(session, client, meeting, item: Mapping, owner: str, index: int, now):
    due_at = item.get("due_at")
    if due_at is None or not (item.get("title") or "").strip():
        raise MeetingError(f"action_items.{index}", "needs a title and a due time")
    try:
        return make_commitment(
            session,
            client,
            title=item["title"],
            due_at=due_at,
            actor=owner,
            detail=f"Action item of the {meeting.kind_label.lower()} of "
            f"{meeting.starts_at:%Y-%m-%d}: {meeting.title}",
            now=now,
        )
    except TouchError as error:
        raise MeetingError(f"action_items.{index}.{error.field}", error.message) from error


def cancel_planned(session: Session, meeting: Meeting) -> bool:
    """Mark a planned meeting cancelled (its calendar says so); whether it was
    planned. Audited as meeting.cancel."""
    if meeting.status != "planned":
        return False
    meeting.status = "cancelled"
    session.flush()
    audit(session, "meeting.cancel", "client", meeting.client.slug, {"meeting": meeting.id})
    return True
