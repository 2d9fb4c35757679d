"""Business hours ("Mon-Fri 09:00-17:30"), read in each client's own time zone.

The setting TOUCHLINE_BUSINESS_HOURS holds one or more rules separated by
semicolons, each a set of days and a span of local time:

    Mon-Fri 09:00-17:30
    Mon-Thu 08:00-17:00; Fri 08:00-13:00
    Mon,Wed,Fri 10:00-16:00

A span ends at its closing minute (17:30 is closed). Spans past midnight are
not supported: nobody calls a client at 02:00 their time.
"""

import functools
import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(
    r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<opens>\d{1,2}:\d{2})\s*-\s*(?P<closes>\d{1,2}:\d{2})\s*$"
)


class BadBusinessHours(ValueError):
    """The setting cannot be read; says which part and why."""


@dataclass(frozen=True)
class BusinessHours:
    # weekday (Monday 0) -> (opens, closes), local wall-clock times
    spans: dict[int, tuple[time, time]]
    text: str

    @classmethod
    def parse(cls, text: str) -> "BusinessHours":
        spans: dict[int, tuple[time, time]] = {}
        for rule in filter(str.strip, text.split(";")):
            match = _RULE.match(rule)
            if not match:
                raise BadBusinessHours(
                    f"business hours {rule.strip()!r}: expected days and a span "
                    'like "Mon-Fri 09:00-17:30"'
                )
            opens, closes = _time(match["opens"], rule), _time(match["closes"], rule)
            if closes <= opens:
                raise BadBusinessHours(f"business hours {rule.strip()!r}: closes before it opens")
            for weekday in _days(match["days"], rule):
                spans[weekday] = (opens, closes)
        if not spans:
            raise BadBusinessHours("business hours: no days given")
        return cls(spans, text.strip())

    def is_open(self, moment: datetime, zone: ZoneInfo) -> bool:
        """Whether `moment` (aware) falls inside the hours in `zone`."""
        local = moment.astimezone(zone)
        span = self.spans.get(local.weekday())
        return span is not None and span[0] <= local.time().replace(tzinfo=None) < span[1]


@functools.lru_cache(maxsize=8)
def business_hours(text: str) -> BusinessHours:
    """The parsed setting; parsed once, since every card asks for it."""
    return BusinessHours.parse(text)


def _time(text: str, rule: str) -> time:
    hours, minutes = map(int, text.split(":"))
    if hours > 23 or minutes > 59:
        raise BadBusinessHours(f"business hours {rule.strip()!r}: {text} is not a time of day")
    return time(hours, minutes)


def _days(text: str, rule: str) -> list[int]:
    days: list[int] = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        first, _, last = (p.strip() for p in part.partition("-"))
        if first not in DAYS or (last and last not in DAYS):
            raise BadBusinessHours(
                f"business hours {rule.strip()!r}: {part!r} is not a day or a range "
                "of days (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
            )
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise BadBusinessHours(f"business hours {rule.strip()!r}: {part!r} runs backwards")
        days += range(start, end + 1)
    return days
