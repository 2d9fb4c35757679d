"""How a briefing words dates, durations, money and people: as one says them in a meeting.

Dates are the client's own calendar days ("3 Nov", with the year only when it
is not the year of the briefing), since the meeting is with them. Lengths of
time and ages are crm.formatting's (span, whole_days), as on every page.
"""

import functools
import re
from datetime import datetime, tzinfo
from decimal import Decimal

import pandas as pd

from crm.formatting import money, span, whole_days

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(moment: datetime | None, zone: tzinfo, reference: datetime | None = None) -> str:
    """ "3 Nov" (or "3 Nov 2025" outside the reference's year) in `zone`."""
    if moment is None or pd.isna(moment):
        return "an unknown day"
    # A briefing says hundreds of days: a plain datetime converts and formats
    # several times faster than a pandas Timestamp.
    if isinstance(moment, pd.Timestamp):
        moment = moment.to_pydatetime()
    local = moment.astimezone(zone)
    text = f"{local.day} {MONTHS[local.month - 1]}"
    if reference is not None and _year(reference, zone) != local.year:
        text += f" {local.year}"
    return text


@functools.lru_cache(maxsize=64)
def _year(moment: datetime, zone: tzinfo) -> int:
    return moment.astimezone(zone).year


def days_text(start: datetime, end: datetime) -> str:
    """ "40 days", "1 day" (whole days, crm.formatting.whole_days), or under a
    day as span() says it ("5 h"): where a figure is counted in days (an
    invoice's days overdue, a renewal's days to go)."""
    days = whole_days(start, end)
    return plural(days, "day") if days else span(end - start)


def money_text(amount: Decimal | None, currency: str | None) -> str:
    return money(amount, currency) if amount is not None else ""


_NAME = re.compile(r"^[^\W\d_][\w'.-]*$")


def first_name(actor: str | None) -> str | None:
    """ "Bob Ferreira" -> "Bob"; None for what is not a person's name (an
    address, a system id, nothing)."""
    if not actor or "@" in actor:
        return None
    first = actor.split()[0]
    return first if _NAME.match(first) else None


def humanise(code: str | None) -> str | None:
    """ "insufficient_funds" -> "insufficient funds"."""
    return code.replace("_", " ").strip() if code else None


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"


_LABEL = re.compile(r"^(quote|won|lost|deal|opportunity|renewal|proposal)\s*:\s*", re.IGNORECASE)


def without_label(title: str | None) -> str:
    """A sales title without the stage word in front: "Quote: Firewall" -> "Firewall"."""
    return _LABEL.sub("", title or "").strip() or (title or "")
