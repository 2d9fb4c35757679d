"""When a meeting's briefing is due in its recipient's inbox.

Default: 09:00 on the working day before the meeting, in the recipient's
time zone (the day before in *their* calendar, not the client's). A wall
clock time that a change to summer time skips (02:30 on the last Sunday of
March in Berlin) is read with the offset before the change, so it falls an
hour later on the clock (03:30); one a change to winter time repeats is its
first occurrence. Pure functions:
the tests cross time zones and daylight-saving changes with them.
"""

from datetime import UTC, date, datetime, time, timedelta, tzinfo

# Monday=0 ... Sunday=6
WORKING_DAYS = (0, 1, 2, 3, 4)
SEND_AT = time(9, 0)


def due_at(
    starts_at: datetime,
    zone: tzinfo,
    *,
    working_days: tuple[int, ...] = WORKING_DAYS,
    send_at: time = SEND_AT,
) -> datetime:
    """The UTC moment the briefing for a meeting starting at `starts_at` is due:
    `send_at` on the last working day before the meeting's day, in `zone`."""
    if starts_at.tzinfo is None:
        raise ValueError("starts_at needs a time zone")
    if not working_days:
        raise ValueError("no working days: nobody would ever receive the briefing")
    day = starts_at.astimezone(zone).date() - timedelta(days=1)
    while day.weekday() not in working_days:
        day -= timedelta(days=1)
    return wall_clock(day, send_at, zone)


def wall_clock(day: date, at: time, zone: tzinfo) -> datetime:
    """The UTC moment a clock in `zone` shows `at` on `day`."""
    wall = datetime.combine(day, at)
    # fold=0: the first of two repeated times; a skipped time reads as after the change.
    local = wall.replace(tzinfo=zone, fold=0)
    # Round-trip through UTC normalises a time in the gap of a change to summer time.
    return local.astimezone(UTC)


def parse_working_days(text: str) -> tuple[int, ...]:
    """ "Mon-Fri", "Sun-Thu", "Mon,Wed,Fri" -> weekday numbers."""
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    def number(name: str) -> int:
        if name in names:
            return names.index(name)
        if name in full:
            return full.index(name)
        raise ValueError(f"{text!r} is not a day or range of days (Mon-Fri, Sun-Thu)")

    days: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        start = number(first)
        end = number(last) if dash else start
        day = start
        while True:
            days.append(day)
            if day == end:
                break
            day = (day + 1) % 7
    return tuple(sorted(set(days)))
