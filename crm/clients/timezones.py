"""The IANA time zones a client or a user may be in."""

import functools
import zoneinfo


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def all_timezones() -> list[str]:
    return sorted(_zone_names())


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone ("Europe/Lisbon", "UTC")."""
    return name in _zone_names()
