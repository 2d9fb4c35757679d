"""When a meeting's briefing is due: 09:00 the working day before, in the
recipient's time zone, across time zones and daylight-saving changes."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from crm.meetings.schedule import due_at, parse_working_days

LISBON = ZoneInfo("Europe/Lisbon")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def _at(zone, *parts):
    return datetime(*parts, tzinfo=zone)


@pytest.mark.parametrize(
    ("meeting", "zone", "due"),
    [
        # Tuesday 10:00 in Lisbon: Monday 09:00 Lisbon (summer time, UTC+1)
        (_at(LISBON, 2026, 6, 9, 10, 0), LISBON, datetime(2026, 6, 8, 8, 0, tzinfo=UTC)),
        # Monday: the Friday before
        (_at(LISBON, 2026, 6, 8, 10, 0), LISBON, datetime(2026, 6, 5, 8, 0, tzinfo=UTC)),
        # Europe changes to summer time on Sunday 29 March 2026: a Monday meeting
        # is due Friday at 09:00 WET (UTC), a Tuesday one Monday at 09:00 WEST
        (_at(LISBON, 2026, 3, 30, 10, 0), LISBON, datetime(2026, 3, 27, 9, 0, tzinfo=UTC)),
        (_at(LISBON, 2026, 3, 31, 10, 0), LISBON, datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        # New York changes on Sunday 8 March 2026: EST, then EDT
        (_at(NEW_YORK, 2026, 3, 9, 9, 0), NEW_YORK, datetime(2026, 3, 6, 14, 0, tzinfo=UTC)),
        (_at(NEW_YORK, 2026, 3, 10, 9, 0), NEW_YORK, datetime(2026, 3, 9, 13, 0, tzinfo=UTC)),
        # and back on Sunday 1 November 2026
        (_at(NEW_YORK, 2026, 11, 3, 9, 0), NEW_YORK, datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
        # A meeting on Monday 08:00 in Tokyo is Sunday 19:00 for a manager in
        # New York: their working day before is Friday
        (_at(TOKYO, 2026, 6, 8, 8, 0), NEW_YORK, datetime(2026, 6, 5, 13, 0, tzinfo=UTC)),
        # A meeting early on Tuesday in Tokyo is still Monday in New York: due
        # the Friday before, in New York
        (_at(TOKYO, 2026, 6, 9, 8, 0), NEW_YORK, datetime(2026, 6, 5, 13, 0, tzinfo=UTC)),
    ],
)
def test_due_at_nine_the_working_day_before_in_the_recipients_zone(meeting, zone, due):
    assert due_at(meeting, zone) == due


def test_other_working_days_and_send_time():
    sun_thu = parse_working_days("Sun-Thu")
    assert sun_thu == (0, 1, 2, 3, 6)
    # Sunday's meeting in Dubai: due Thursday 08:00 there (UTC+4)
    dubai = ZoneInfo("Asia/Dubai")
    meeting = _at(dubai, 2026, 6, 14, 11, 0)
    assert due_at(meeting, dubai, working_days=sun_thu, send_at=time(8, 0)) == datetime(
        2026, 6, 11, 4, 0, tzinfo=UTC
    )
    assert parse_working_days("Mon, Wed,Fri") == (0, 2, 4)
    assert parse_working_days("Fri-Mon") == (0, 4, 5, 6)


def test_a_send_time_in_a_daylight_saving_gap_or_overlap():
    every_day = tuple(range(7))
    # 02:30 does not exist in Berlin on 29 March 2026 (02:00 -> 03:00): read
    # with the winter offset, it is 03:30 on the clock, 01:30 UTC
    assert due_at(
        _at(BERLIN, 2026, 3, 30, 10, 0), BERLIN, working_days=every_day, send_at=time(2, 30)
    ) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 02:30 happens twice on 25 October 2026 (03:00 -> 02:00): the first one
    assert due_at(
        _at(BERLIN, 2026, 10, 26, 10, 0), BERLIN, working_days=every_day, send_at=time(2, 30)
    ) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["Mon-Funday", "weekdays", "Mon-"])
def test_working_days_that_cannot_be_read_say_so(text):
    with pytest.raises(ValueError, match="is not a day"):
        parse_working_days(text)


def test_a_naive_start_or_no_working_day_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        due_at(datetime(2026, 6, 9, 10, 0), LISBON)
    with pytest.raises(ValueError, match="no working days"):
        due_at(_at(LISBON, 2026, 6, 9, 10, 0), LISBON, working_days=())
