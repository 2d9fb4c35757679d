"""Issue 24's "done when", as one account manager and one executive live it,
through the doors they use (the CLI for the calendar and the scheduler, the
pages for the rest) with a real SMTP server (aiosmtpd) receiving the mail:
a calendar imported, the next meeting on the card and in the directory, the
briefing in the manager's inbox before it, the last meeting written up with
its action items, the next briefing starting there, the executive's weekly
digest, and the client-facing summary as a PDF.

The calendar is built here to the documented shape of RFC 5545 (VEVENT with
DTSTART/DTEND in UTC, ORGANIZER, ATTENDEE with CN), with dates around today
so that one meeting has been held and one is ahead; the parsing of the
vendors' own calendars is tests/test_meetings_import.py's business.
"""

import io
import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

from pypdf import PdfReader
from sqlalchemy import select

from crm.extensions import db
from crm.meetings.models import Meeting
from crm.models import Entity, Event
from crm.models.types import utcnow
from tests.accounts import make_user, signed_in_client
from tests.factories import make_client

HEADER = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Touchline tests//built to RFC 5545//EN
"""
EVENT = """BEGIN:VEVENT
UID:{uid}
DTSTAMP:{stamp}
DTSTART:{start}
DTEND:{end}
SUMMARY:{summary}
ORGANIZER;CN=Rita Lopes:mailto:rita@ourmsp.example
ATTENDEE;CN=Rita Lopes:mailto:rita@ourmsp.example
ATTENDEE;CN=Ana Lima:mailto:ana.lima@acme.example
END:VEVENT
"""


def _ics(path, *meetings):
    """A calendar of (uid, start, summary) one-hour meetings."""
    stamp = _ical(utcnow())
    text = HEADER + "".join(
        EVENT.format(
            uid=uid,
            stamp=stamp,
            start=_ical(start),
            end=_ical(start + timedelta(hours=1)),
            summary=summary,
        )
        for uid, start, summary in meetings
    )
    path.write_text(text + "END:VCALENDAR\n", newline="\r\n")
    return path


def _ical(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _run(runner, *args) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _received(smtp_server, address: str) -> list:
    """The messages the SMTP server received for `address`, parsed."""
    return [
        message_from_bytes(content, policy=policy.default)
        for recipients, content in smtp_server.messages
        if recipients == [address]
    ]


def _pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_manager_and_an_executive_live_the_meeting_cycle(app, runner, smtp_server, tmp_path):
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    held_at = now - timedelta(days=20)
    next_at = now + timedelta(days=9)
    rita = make_user(
        "manager", email="rita@ourmsp.example", name="Rita Lopes", timezone="Europe/Lisbon"
    )
    eve = make_user("executive", email="eve@ourmsp.example", timezone="America/New_York")
    make_client(
        "acme",
        name="Acme Lda",
        tier="key",
        timezone="Europe/Lisbon",
        emails=["ana.lima@acme.example"],
        manager=rita,
    )

    # The account manager imports a calendar: both meetings find Acme by Ana.
    calendar = _ics(
        tmp_path / "rita.ics",
        ("acme-roadmap-1@ourmsp.example", held_at, "Acme roadmap meeting"),
        ("acme-roadmap-2@ourmsp.example", next_at, "Acme roadmap meeting"),
    )
    since, until = (now - timedelta(days=60)).date(), (now + timedelta(days=60)).date()
    output = _run(
        runner,
        *("meetings", "import", str(calendar), "--owner", rita.email, "--json"),
        *("--since", since.isoformat(), "--until", until.isoformat()),
    )
    summary = json.loads(output.strip().splitlines()[-1])
    assert (summary["total"], summary["accepted"], summary["unmatched"]) == (2, 2, 0)
    held, ahead = db.session.scalars(select(Meeting).order_by(Meeting.starts_at)).all()
    assert (held.starts_at, ahead.starts_at) == (held_at, next_at)
    assert held.kind == ahead.kind == "roadmap"

    # She writes up the meeting that was held, with two action items.
    manager = signed_in_client(app, rita)
    due = (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    answer = manager.post(
        f"/clients/acme/meetings/{held.id}/log",
        data={
            "notes": "Backups reviewed; the NAS is full.",
            "outcome": "Replace the NAS before the next meeting.",
            "item_title": ["Quote a new NAS", "Send the backup report"],
            "item_owner": ["Bruno", "Rita"],
            "item_due": [due, due],
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    notes = db.session.scalar(select(Event).where(Event.kind == "meeting"))
    assert notes.actor == rita.name and "the NAS is full" in notes.detail
    promised = db.session.scalars(
        select(Entity.title).where(Entity.type == "commitment").order_by(Entity.title)
    ).all()
    assert promised == ["Quote a new NAS", "Send the backup report"]

    # The card and her directory ("my clients") show the next meeting.
    card = manager.get("/clients/acme").get_data(as_text=True)
    assert "Next meeting" in card and f"/clients/acme/meetings/{ahead.id}" in card
    mine = manager.get("/clients?manager=me").get_data(as_text=True)
    assert f'href="/clients/acme/meetings/{ahead.id}"' in mine

    # The scheduler mails her the briefing before the meeting, not earlier.
    assert _run(runner, "deliver", "--due", "--at", (next_at - timedelta(days=5)).isoformat()) == ""
    sent = _run(runner, "deliver", "--due", "--at", (next_at - timedelta(hours=1)).isoformat())
    assert f"sent: acme meeting {ahead.id} to rita@ourmsp.example" in sent, sent
    [message] = _received(smtp_server, rita.email)
    [attachment] = list(message.iter_attachments())
    briefing = _pdf_text(attachment.get_content())
    # It starts at the meeting she logged and carries what we promised there.
    assert "since the last meeting on" in briefing.replace("\n", " ")
    assert "Quote a new NAS" in briefing
    assert message["List-Unsubscribe"]
    meeting_page = manager.get(f"/clients/acme/meetings/{ahead.id}").get_data(as_text=True)
    assert "rita@ourmsp.example" in meeting_page and "Not sent yet" not in meeting_page
    assert attachment.get_filename() in meeting_page  # the delivery log names the briefing sent

    # The executive has received the weekly digest of that week (the same
    # run found it due: Monday 08:00 in her time zone had passed).
    assert "digest of week" in sent and f"to {eve.email}" in sent, sent
    [digest] = _received(smtp_server, eve.email)
    assert digest["Subject"].startswith("Weekly digest")

    # The client-facing summary downloads as a PDF, with nothing internal in it.
    summary = manager.get("/clients/acme/summary.pdf")
    assert summary.status_code == 200 and summary.mimetype == "application/pdf"
    text = _pdf_text(summary.data)
    assert "Acme Lda" in text
    assert "ambushed" not in text and "Health" not in text
