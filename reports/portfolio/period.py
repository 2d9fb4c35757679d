"""The period a portfolio report covers: whole days, in UTC."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both days included."""

    start: date
    end: date

    def __post_init__(self):
        if self.start > self.end:
            raise ValueError(f"the period starts ({self.start}) after it ends ({self.end})")

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(0), UTC)

    @property
    def ends_before(self) -> datetime:
        """The first moment after the period (midnight after `end`)."""
        return datetime.combine(self.end + timedelta(days=1), time(0), UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def last_twelve_months(today: date) -> Period:
    """The year up to and including `today` (29 Feb falls back to 28 Feb)."""
    try:
        year_before = today.replace(year=today.year - 1)
    except ValueError:
        year_before = today.replace(year=today.year - 1, day=28)
    return Period(year_before + timedelta(days=1), today)
