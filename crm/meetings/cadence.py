"""How often each tier should have a roadmap meeting, and who is overdue.

One rule, read by the directory (its badge and `meeting_overdue` filter, the
API's rows), the portfolio report and the weekly digest:

    A client whose tier has a cadence of N days is overdue for a meeting at
    `now` when it has no meeting (any kind; not cancelled) starting within N
    days either side of `now`: none held (or planned and not yet written up)
    in the last N days, and none planned in the next N days.

So the next meeting is due N days after the last one; planning one within
the cadence clears the badge before it is held, because the point is that
someone has booked it. A client that never met is overdue from the start.
Tiers without a cadence (by default: new clients, still onboarding) are never
overdue. Cadences come from `TOUCHLINE_MEETING_CADENCE` (crm.config).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session

from crm.meetings.models import Meeting
from crm.models import Client
from crm.vocabulary import TIERS

# tier -> days between roadmap meetings; a tier not named has no cadence.
DEFAULT_CADENCE: dict[str, int] = {"key": 91, "problem": 30, "standard": 182}
DEFAULT_CADENCE_TEXT = "key=91,problem=30,standard=182"


def parse_cadence(text: str | None) -> dict[str, int]:
    """ "key=91,problem=30,standard=182" -> {tier: days}. Empty: the default;
    "none" (or "-") turns cadences off. A tier set to 0 has no cadence."""
    if text is None or not text.strip():
        return dict(DEFAULT_CADENCE)
    if text.strip().lower() in ("none", "-"):
        return {}
    cadence: dict[str, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        tier, equals, days = part.partition("=")
        tier = tier.strip().lower()
        if tier not in TIERS or not equals:
            raise ValueError(
                f"TOUCHLINE_MEETING_CADENCE: {part.strip()!r} is not TIER=DAYS "
                f"with a tier of {', '.join(TIERS)}"
            )
        try:
            number = int(days.strip())
        except ValueError:
            raise ValueError(
                f"TOUCHLINE_MEETING_CADENCE: {tier}'s {days.strip()!r} is not a number of days"
            ) from None
        if number < 0:
            raise ValueError(f"TOUCHLINE_MEETING_CADENCE: {tier}'s days cannot be negative")
        if number:
            cadence[tier] = number
    return cadence


def describe_cadence(cadence: Mapping[str, int]) -> str:
    """ "key every 91 days, problem every 30 days": how pages name the setting."""
    named = [f"{tier} every {cadence[tier]} days" for tier in TIERS[::-1] if tier in cadence]
    return ", ".join(named) or "no tier has a cadence"


def _met_within(days: int, now: datetime):
    """A meeting of the client in the row starting within `days` of `now`."""
    window = timedelta(days=days)
    return exists(
        select(Meeting.id).where(
            Meeting.client_id == Client.id,
            Meeting.status != "cancelled",
            Meeting.starts_at >= now - window,
            Meeting.starts_at <= now + window,
        )
    )


def overdue_sql(now: datetime, cadence: Mapping[str, int] = DEFAULT_CADENCE):
    """A condition on Client: overdue for a meeting at `now` (the rule above)."""
    clauses = [and_(Client.tier == tier, ~_met_within(days, now)) for tier, days in cadence.items()]
    return or_(*clauses) if clauses else false()


def overdue_ids(
    session: Session,
    client_ids: Iterable[int] | None,
    now: datetime,
    cadence: Mapping[str, int] = DEFAULT_CADENCE,
) -> set[int]:
    """The clients (of `client_ids`; None: every active client) overdue at `now`."""
    query = select(Client.id).where(overdue_sql(now, cadence))
    if client_ids is None:
        query = query.where(Client.status == "active")
    else:
        ids = list(client_ids)
        if not ids:
            return set()
        query = query.where(Client.id.in_(ids))
    return set(session.scalars(query))


def next_due(
    session: Session,
    client: Client,
    now: datetime,
    cadence: Mapping[str, int] = DEFAULT_CADENCE,
) -> datetime | None:
    """When the client's next meeting is due: its cadence after the last meeting
    started by `now` (not cancelled); `now` when it never met. None: no cadence."""
    days = cadence.get(client.tier)
    if not days:
        return None
    last = session.scalar(
        select(Meeting.starts_at)
        .where(
            Meeting.client_id == client.id,
            Meeting.status != "cancelled",
            Meeting.starts_at <= now,
        )
        .order_by(Meeting.starts_at.desc())
        .limit(1)
    )
    return now if last is None else last + timedelta(days=days)
