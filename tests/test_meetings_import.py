"""`flask meetings import FILE.ics`: calendars become meetings of the clients
their attendees find; recurring events expanded, time zones kept, unresolved
meetings waiting in the unmatched queue.

Fixtures: the vendors' own test calendars (tests/fixtures/vendors/SOURCES.md:
recurring-ical-events' and icalendar's, verbatim) for expansion and time
zones, and tests/fixtures/calendar/rita_calendar_DOCUMENTED_SHAPE.ics, built
to the documented shape of RFC 5545 (VTIMEZONE, RRULE, EXDATE, RECURRENCE-ID,
ORGANIZER, ATTENDEE with CN, a folded line, DURATION, an all-day event,
X-WR-TIMEZONE), for attendees of several clients.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from connectors.pipeline import Pipeline
from crm.extensions import db
from crm.identities import map_identity
from crm.meetings.models import Meeting
from crm.models import InboxRecord
from tests.factories import make_client

FIXTURES = Path(__file__).parent / "fixtures"
RITA = FIXTURES / "calendar" / "rita_calendar_DOCUMENTED_SHAPE.ics"
YEAR_2030 = ["--since", "2030-01-01", "--until", "2030-12-31"]


def _import(runner, path, *args):
    result = runner.invoke(args=["meetings", "import", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _meetings():
    return db.session.scalars(select(Meeting).order_by(Meeting.starts_at)).all()


def _inbox(status):
    rows = db.session.scalars(
        select(InboxRecord).where(InboxRecord.status == status).order_by(InboxRecord.position)
    )
    return [(row.record["uid"], row.record["start"], row.reason) for row in rows]


def _clients():
    acme = make_client("acme", emails=["ana.lima@acme.example"], timezone="America/New_York")
    globex = make_client("globex", identities=[("domain", "globex.example")])
    return acme, globex


def test_a_calendar_becomes_the_meetings_of_the_clients_its_attendees_find(runner):
    _clients()
    summary = _import(runner, RITA, "--owner", "Rita@OurMSP.example", *YEAR_2030)
    # 3 Acme roadmaps (4 monthly, April excluded; March moved), 1 Globex QBR;
    # the joint review (two clients), Initech (unknown), the stand-up (internal)
    # and the all-day offsite do not go in.
    assert (summary["total"], summary["accepted"]) == (8, 4)
    assert (summary["rejected"], summary["unmatched"], summary["skipped"]) == (1, 1, 2)

    rows = [(m.client.slug, m.kind, m.title, m.starts_at, m.owner, m.origin) for m in _meetings()]
    owner = "rita@ourmsp.example"
    assert rows == [
        ("acme", "roadmap", "Acme roadmap meeting", _utc(2030, 2, 12, 15), owner, "ical"),
        # moved to the 13th at 15:00 New York, after the change to summer time
        ("acme", "roadmap", "Acme roadmap meeting (moved)", _utc(2030, 3, 13, 19), owner, "ical"),
        ("acme", "roadmap", "Acme roadmap meeting", _utc(2030, 5, 12, 14), owner, "ical"),
        ("globex", "qbr", "Globex quarterly business review", _utc(2030, 7, 1, 9), owner, "ical"),
    ]
    first = _meetings()[0]
    assert first.agenda == "Backups, the new office, renewals."
    assert first.ends_at == _utc(2030, 2, 12, 16)
    assert first.attendees == [
        {"email": "rita@ourmsp.example", "name": "Rita Lopes", "ours": False},
        {"email": "ana.lima@acme.example", "name": "Ana Lima", "ours": False},
    ]

    [rejected] = _inbox("rejected")
    assert rejected[0] == "joint-review@ourmsp.example"
    assert "several clients" in rejected[2] and "acme" in rejected[2] and "globex" in rejected[2]
    assert [(uid, start) for uid, start, _ in _inbox("unmatched")] == [
        # a floating time, read in the calendar's X-WR-TIMEZONE (Lisbon, summer)
        ("initech-onboarding@ourmsp.example", "2030-05-20T13:00:00+00:00")
    ]
    skipped = {uid: reason for uid, _, reason in _inbox("skipped")}
    assert "internal meeting" in skipped["standup@ourmsp.example"]
    assert "all-day" in skipped["acme-offsite@ourmsp.example"]


def test_importing_again_updates_moved_meetings_and_makes_no_second_copy(runner, tmp_path):
    _clients()
    _import(runner, RITA, "--owner", "rita@ourmsp.example", *YEAR_2030)
    moved = tmp_path / "moved.ics"
    moved.write_bytes(
        RITA.read_bytes()
        .replace(b"Lisbon:20300701T100000", b"Lisbon:20300702T160000")
        .replace(b"Lisbon:20300701T113000", b"Lisbon:20300702T170000")
    )
    again = _import(runner, moved, "--owner", "rita@ourmsp.example", *YEAR_2030)
    # the QBR moved; the three roadmaps are as they were, and Initech's meeting
    # already waits in the unmatched queue
    assert (again["accepted"], again["duplicate"]) == (1, 4)
    globex = [m for m in _meetings() if m.client.slug == "globex"]
    assert [m.starts_at for m in globex] == [_utc(2030, 7, 2, 15)]
    assert len(_meetings()) == 4


def test_mapping_an_unmatched_attendees_domain_replays_the_meeting(app, runner):
    _clients()
    initech = make_client("initech")
    _import(runner, RITA, "--owner", "rita@ourmsp.example", *YEAR_2030)
    assert not [m for m in _meetings() if m.client_id == initech.id]
    map_identity(db.session, "domain", "initech.example", initech)
    db.session.commit()
    with Pipeline(db.session) as pipeline:
        pipeline.replay_matching([("domain", "initech.example")], started_by="test")
    [meeting] = [m for m in _meetings() if m.client_id == initech.id]
    assert (meeting.kind, meeting.starts_at) == ("onboarding", _utc(2030, 5, 20, 13))
    assert _inbox("unmatched") == []


def test_recurring_events_of_the_vendors_calendars_expand_in_their_time_zones(runner):
    """recurring-ical-events' own test calendars: an edited occurrence keeps its
    place in the series; a weekly event in Lisbon keeps 11:30 local across the
    end of summer time (10:30 UTC, then 11:30 UTC)."""
    vendors = FIXTURES / "vendors"
    _import(
        runner,
        vendors / "recurring_ical_events_three_events_one_edited.ics",
        *["--since", "2019-03-01", "--until", "2019-04-01"],
    )
    berlin = db.session.scalars(select(InboxRecord).order_by(InboxRecord.position)).all()
    assert [(r.record["start"], r.record["summary"]) for r in berlin] == [
        ("2019-03-18T03:00:00+00:00", "test7"),
        ("2019-03-19T03:00:00+00:00", "test7 - edited"),
        ("2019-03-20T03:00:00+00:00", "test7"),
    ]
    # Nobody attends them: kept as skipped, with their reason.
    assert {r.status for r in berlin} == {"skipped"}

    _import(
        runner,
        vendors / "recurring_ical_events_issue_48_daylight_aware_repeats.ics",
        *["--since", "2020-10-10", "--until", "2020-11-03"],
    )
    lisbon = db.session.scalars(
        select(InboxRecord).where(InboxRecord.natural_key.startswith("EVENT2"))
    ).all()
    assert sorted(r.record["start"] for r in lisbon) == [
        "2020-10-12T10:30:00+00:00",
        "2020-10-19T10:30:00+00:00",
        "2020-10-26T11:30:00+00:00",
        "2020-11-02T11:30:00+00:00",
    ]


def test_a_custom_vtimezone_is_read_from_the_file(runner):
    """icalendar's own test calendar: TZID custom_America/New_York, defined
    only by the file's VTIMEZONE (EDT in August)."""
    _import(
        runner,
        FIXTURES / "vendors" / "icalendar_america_new_york.ics",
        *["--since", "2014-08-01", "--until", "2014-09-01"],
    )
    [record] = db.session.scalars(select(InboxRecord)).all()
    assert record.record["start"] == "2014-08-29T12:00:00+00:00"
    assert record.record["end"] == "2014-08-29T14:00:00+00:00"


def test_a_file_that_is_not_a_calendar_fails_saying_so(runner, tmp_path):
    bad = tmp_path / "notes.ics"
    bad.write_text("hello, this is not a calendar")
    result = runner.invoke(args=["meetings", "import", str(bad)])
    assert result.exit_code != 0
    assert "not an iCalendar file" in result.output
    assert _meetings() == []


def _utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)
