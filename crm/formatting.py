"""How pages show values: Jinja filters for money, times and ages.

Pages show times in the viewer's terms ("3 Nov 14:05 UTC", "6 weeks ago")
and a client's local time in the client's zone; the API always gives ISO 8601
with an offset instead.
"""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from markupsafe import Markup, escape

from crm.models.types import utcnow


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


def day(moment: datetime | None) -> str:
    return when(moment, "%d %b %Y")


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, coarse as people say it: "just now", "3 h", "12 days", "6 weeks"."""
    if moment is None:
        return "—"
    seconds = ((now or utcnow()) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = "just now" if not future else "in a minute"
        return text
    for limit, unit, size in (
        (90 * 60, "min", 60),
        (36 * 3600, "h", 3600),
        (21 * 86400, "days", 86400),
        (120 * 86400, "weeks", 7 * 86400),
        (float("inf"), "months", 30 * 86400),
    ):
        if seconds < limit:
            count = round(seconds / size)
            return f"in {count} {unit}" if future else f"{count} {unit} ago"
    raise AssertionError("unreachable")


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
    app.add_template_filter(age)
    app.add_template_filter(isolate_join)
