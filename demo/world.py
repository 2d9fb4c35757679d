"""What every demo generator shares: seeded randomness, ids and a calendar.

Two rules keep a reload idempotent. Randomness comes from one stream per
part of the portfolio, seeded from the seed alone, so changing how tickets are
drawn never shifts an invoice id. And no generator asks the calendar anything
while drawing: every date is a number of days before `today`, turned into a
timestamp only when written. So ids and content depend on the seed, the dates
on the day, and loading again on another day gives duplicates, not new events.
"""

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Technicians, who open, work and solve tickets.
TECHNICIANS = ("Bob Ferreira", "Carla Mendes", "Jonas Weber", "Emily Carter", "Kenji Sato")
ACCOUNT_MANAGERS = ("Ana Lima", "Mark Hughes", "Sofia Braun")


def stream(seed: int, part: str) -> random.Random:
    """The random stream of one part of the portfolio (str seeds are stable)."""
    return random.Random(f"touchline-demo:{seed}:{part}")


def token(rng: random.Random, bits: int = 64) -> str:
    """A random hex id of `bits` bits, like the ones vendors hand out."""
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class Calendar:
    """Turns "days ago, at this hour" into ISO 8601 timestamps.

    Business hours are local to the client (08:00-18:59), and any day at least
    one day ago then lies before today 00:00 UTC in all of the demo's time
    zones (UTC-5 to UTC+9), so nothing lands in the future.
    """

    def __init__(self, today: date):
        self.today = today
        self.midnight = datetime.combine(today, time(0), UTC)
        self._zones: dict[str, ZoneInfo] = {}

    def zone(self, name: str) -> ZoneInfo:
        if name not in self._zones:
            self._zones[name] = ZoneInfo(name)
        return self._zones[name]

    def local(self, zone: str, days_ago: int, hour: int = 9, minute: int = 0) -> datetime:
        """A local wall-clock time `days_ago` days before today (negative: after)."""
        day = self.today - timedelta(days=days_ago)
        return datetime.combine(day, time(hour, minute), self.zone(zone))

    def utc(self, days_ago: int, minute_of_day: int, zone: str) -> datetime:
        """A UTC instant (any hour), shown with the client's offset."""
        moment = self.midnight - timedelta(days=days_ago) + timedelta(minutes=minute_of_day)
        return moment.astimezone(self.zone(zone))

    def past(self, moment: datetime) -> datetime:
        """`moment`, or the last minute of yesterday (UTC) if it is later."""
        latest = self.midnight - timedelta(minutes=1)
        return moment if moment <= latest else latest.astimezone(moment.tzinfo)

    def day(self, days_from_today: int) -> date:
        return self.today + timedelta(days=days_from_today)


def iso(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat(timespec="seconds")
    return moment.isoformat()


def record(id: str, kind: str, occurred_at: datetime, **fields) -> dict:
    """A generic-format event; empty fields are left out, times made ISO 8601."""
    row = {"id": id, "kind": kind, "occurred_at": iso(occurred_at)}
    for name, value in fields.items():
        if value is not None:
            row[name] = iso(value) if isinstance(value, date) else value
    return row
