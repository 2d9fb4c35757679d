"""The `calendar` connector: an account manager's calendar (.ics) as meetings.

`flask meetings import FILE.ics [--owner EMAIL]` reads an iCalendar file
(RFC 5545) with the maintained `icalendar` library and expands recurring
events with `recurring-ical-events` over a window (by default from 90 days
back to a year ahead): each occurrence is one record, keyed by the event's
UID and its RECURRENCE-ID, so an occurrence moved in the calendar updates
its meeting instead of making a second one. Times keep their time zone (a
VTIMEZONE of the file, or an IANA name); a floating time is read in the
calendar's X-WR-TIMEZONE, else UTC. All-day events are not meetings and are
skipped.

Whose meeting it is comes from the attendees (and the organizer) outside our
own domain, the owner's: connectors.meeting_writer resolves them through
contacts and identities. A meeting with nobody from outside is internal and
is skipped; a cancelled occurrence cancels its planned meeting.
"""

import json
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import icalendar
import recurring_ical_events
from flask import current_app
from marshmallow import fields

from connectors.base import Connector, MeetingProfile, RecordError, Skip
from connectors.fields import KnownFieldsSchema
from connectors.pipeline import Pipeline
from connectors.readers import Record, UnreadableInput
from connectors.registry import register
from crm.extensions import db
from crm.identities import ClientHints
from crm.models.types import utcnow

BEFORE = timedelta(days=90)
AHEAD = timedelta(days=366)
# The kind a meeting's title says, the first that matches (else "other").
KIND_WORDS = (
    ("qbr", ("qbr", "quarterly business review", "business review")),
    ("roadmap", ("roadmap",)),
    ("onboarding", ("onboarding", "kick-off", "kickoff")),
)


class _Attendee(KnownFieldsSchema):
    email = fields.String(required=True)
    name = fields.String(allow_none=True)


class CalendarRecordSchema(KnownFieldsSchema):
    uid = fields.String(required=True)
    occurrence = fields.String(load_default="")
    start = fields.String(required=True)
    end = fields.String(allow_none=True)
    summary = fields.String(load_default="")
    description = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    organizer = fields.String(allow_none=True)
    attendees = fields.List(fields.Nested(_Attendee), load_default=list)
    owner = fields.String(allow_none=True)


def kind_of(title: str) -> str:
    words = title.lower()
    for kind, needles in KIND_WORDS:
        if any(needle in words for needle in needles):
            return kind
    return "other"


@register
class CalendarConnector(Connector):
    """Meetings from an iCalendar file, each with the client its attendees find."""

    name = "calendar"
    natural_key = ("uid", "occurrence")
    schema = CalendarRecordSchema
    default_format = "ics"

    def __init__(
        self,
        owner: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ):
        """`owner`: the account manager whose calendar it is (their e-mail);
        `since`/`until`: the window recurring events are expanded over."""
        now = utcnow()
        self.owner = owner.strip().lower() if owner else None
        self.since = since or now - BEFORE
        self.until = until or now + AHEAD

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        try:
            calendars = icalendar.Calendar.from_ical(content, multiple=True)
        except ValueError as error:
            raise UnreadableInput(f"not an iCalendar file: {error}") from error
        if not calendars:
            raise UnreadableInput("not an iCalendar file: no VCALENDAR in it")
        position = 0
        for calendar in calendars:
            floating = _zone(str(calendar.get("X-WR-TIMEZONE", "")))
            # The expansion gives every event a RECURRENCE-ID (its start): only
            # a series' occurrences are keyed by it, so that a single event
            # moved in the calendar moves its meeting.
            series = {
                str(event.get("UID", ""))
                for event in calendar.walk("VEVENT")
                if any(name in event for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
            }
            occurrences = recurring_ical_events.of(calendar, skip_bad_series=True).between(
                self.since, self.until
            )
            for event in occurrences:
                record = self._record(event, floating, str(event.get("UID", "")) in series)
                yield Record(position, f"event {position + 1}", record)
                position += 1

    def _record(self, event, floating, recurring: bool) -> dict:
        start = event.get("DTSTART")
        end = event.get("DTEND")
        occurrence = event.get("RECURRENCE-ID")
        organizer = _address(event.get("ORGANIZER"))
        return {
            "uid": str(event.get("UID", "")),
            "occurrence": _text_time(occurrence.dt, floating) if occurrence and recurring else "",
            "start": _text_time(start.dt, floating) if start else "",
            "end": _text_time(end.dt, floating) if end else None,
            "summary": str(event.get("SUMMARY", "")),
            "description": str(event.get("DESCRIPTION", "")) or None,
            "status": str(event.get("STATUS", "")) or None,
            "organizer": organizer["email"] if organizer else None,
            "attendees": [a for a in map(_address, _listed(event.get("ATTENDEE"))) if a],
            "owner": self.owner or (organizer["email"] if organizer else None),
        }

    def convert(self, data: dict) -> list[MeetingProfile]:
        if not data["uid"].strip():
            raise RecordError("uid", "is missing: an event needs a UID to be kept up to date")
        if "T" not in data["start"]:
            raise Skip("an all-day event, not a meeting at a time")
        starts_at = _parse_time(data["start"], "start")
        ends_at = _parse_time(data["end"], "end") if data.get("end") else None
        owner = (data.get("owner") or "").lower() or None
        ours = owner.rpartition("@")[2] if owner else None
        people = list(data["attendees"])
        if data.get("organizer"):
            people.append({"email": data["organizer"], "name": None})
        outside = [
            p["email"].lower()
            for p in people
            if p["email"].lower() != owner and p["email"].lower().rpartition("@")[2] != ours
        ]
        if not outside:
            raise Skip(f"nobody outside {ours or 'the organizer'} attends: an internal meeting")
        title = data["summary"].strip() or "Meeting"
        occurrence = data.get("occurrence") or ""
        return [
            MeetingProfile(
                hints=ClientHints(emails=tuple(dict.fromkeys(outside))),
                external_id=f"{data['uid']}@{occurrence}" if occurrence else data["uid"],
                kind=kind_of(title),
                title=title,
                starts_at=starts_at,
                ends_at=ends_at if ends_at and ends_at >= starts_at else None,
                attendees=[{"email": p["email"], "name": p.get("name")} for p in people],
                agenda=data.get("description"),
                owner=owner,
                cancelled=(data.get("status") or "").upper() == "CANCELLED",
            )
        ]


def _zone(name: str):
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def _text_time(value, floating) -> str:
    """A DTSTART/DTEND/RECURRENCE-ID value as stored in the record: a day as
    YYYY-MM-DD, a time as ISO 8601 in UTC (a floating one read in `floating`)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=floating)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _parse_time(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(field, f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise RecordError(field, "needs a time zone")
    return value


def _listed(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value) -> dict | None:
    """{"email", "name"} of an ORGANIZER or ATTENDEE (a mailto: URI with CN)."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    if "@" not in text:
        return None
    name = getattr(value, "params", {}).get("CN")
    return {"email": text.lower(), "name": str(name) if name else None}


# --- flask meetings import ---------------------------------------------------------


@click.group("meetings", help="Meetings with clients: import them from calendars.")
def meetings_cli() -> None:
    pass


@meetings_cli.command("import")
@click.argument("path", metavar="FILE.ics", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--owner", metavar="EMAIL", help="Whose calendar it is (else each organizer).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Expand from this day (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Expand to this day (UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def import_command(path: Path, owner, since, until, as_json: bool) -> None:
    """Import the meetings of an iCalendar file, recurring events expanded
    (default window: 90 days back to a year ahead). Meetings whose attendees
    find no client wait in the unmatched queue; see `flask ingest` for the
    counts printed."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from None
    connector = CalendarConnector(
        owner=owner,
        since=since.replace(tzinfo=UTC) if since else None,
        until=until.replace(tzinfo=UTC) if until else None,
    )
    with Pipeline(db.session, current_app.config["INGEST_BATCH_SIZE"]) as pipeline:
        try:
            run = pipeline.ingest(connector, content, path.name, f"cli:{path}")
        except UnreadableInput as error:
            raise click.ClickException(f"cannot read {path}: {error}") from None
    click.echo(json.dumps(run.summary()) if as_json else _summary_line(run))


def _summary_line(run) -> str:
    counts = ", ".join(f"{count} {name}" for name, count in run.counts().items() if count)
    return f"run {run.id}: {counts or 'nothing in it'}"
