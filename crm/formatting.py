"""How pages show values: Jinja filters for money, times and ages.

Pages show times in the viewer's terms ("3 Nov 14:05 UTC", "6 weeks ago")
and a client's local time in the client's zone; the API always gives ISO 8601
with an offset instead. Ages are counted here, one way, for the pages, the
briefing and its PDF, and the portfolio report alike (whole_days, span).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from markupsafe import Markup, escape

from crm.models.types import utcnow

DAY = 86400  # seconds


def money(amount: Decimal | None, currency: str | None = None) -> str:
    """1234.5, "EUR" -> "EUR 1,234.50"; None -> "—"."""
    if amount is None:
        return "—"
    text = f"{amount:,.2f}"
    return f"{currency} {text}" if currency else text


def when(moment: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime(fmt) + (" UTC" if "%H" in fmt else "")


def local(moment: datetime | None, timezone: str | None) -> datetime | None:
    """The moment in a client's time zone (their wall clock), for pages that
    speak in it: the timeline's days and times, as the card and briefing do."""
    return moment.astimezone(zone(timezone)) if moment is not None else None


def day(moment: datetime | None) -> str:
    return when(moment, "%d %b %Y")


def whole_days(start: datetime, end: datetime) -> int:
    """Whole days from `start` to `end`, counted down: 4 days and 23 hours is 4
    days, and less than a day is 0 (as is any `end` before `start`). Every age
    Touchline states in days (the card, the briefing, the portfolio, a flag's
    severity) is counted here, so one item never says 5 days in one place and
    4 in another."""
    return max(0, int((end - start).total_seconds() // DAY))


def span(length: timedelta) -> str:
    """A length of time as people say it, in whole units counted down (the way
    whole_days counts): "40 min", "5 h", "1 day", "12 days", "6 weeks", "4 months"."""
    seconds = abs(length.total_seconds())
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < DAY:
        return f"{int(seconds // 3600)} h"
    days = int(seconds // DAY)
    if days < 21:
        return "1 day" if days == 1 else f"{days} days"
    if days < 120:
        return f"{days // 7} weeks"
    return f"{days // 30} months"


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago (or how far ahead), as span() says it: "just now", "3 h ago",
    "12 days ago", "in 6 weeks"."""
    if moment is None:
        return "—"
    length = (now or utcnow()) - moment
    if abs(length.total_seconds()) < 60:
        return "just now"
    return f"in {span(length)}" if length < timedelta(0) else f"{span(length)} ago"


def elapsed(moment: datetime | None, now: datetime | None = None) -> str:
    """How long from `moment` to `now`, without "ago": a table's Age column."""
    if moment is None:
        return "—"
    return span((now or utcnow()) - moment)


def zone(name: str | None) -> ZoneInfo:
    """The client's zone; an unknown name falls back to UTC rather than failing a page."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def isolate_join(items, separator: str = ", ") -> Markup:
    """Join texts from records, each in its own <bdi>, so that a right-to-left
    override inside one name cannot reorder the separators and names after it."""
    return Markup(escape(separator)).join(Markup("<bdi>%s</bdi>") % item for item in items)


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(when)
    app.add_template_filter(day)
    app.add_template_filter(local)
    app.add_template_filter(age)
    app.add_template_filter(elapsed)
    app.add_template_filter(isolate_join)
