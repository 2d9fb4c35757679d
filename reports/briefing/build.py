"""Building a briefing.

`build_briefing` hands the client's events and thread states, as frames, to
pure functions: flags (don't get ambushed), talking points, numbers and the
health score. Bounded at any size: the database counts what the briefing
only counts (every flag, now and at the period's start, for the severity
counts, the health score and the aging table; the period's events; the
campaigns: reports.briefing.census and .counted), and the frames hold only
the threads of the flags and points shown (reports.briefing.shown), which
the same functions explain. With `whole`, the frames hold every event and
thread those figures rest on (reports.briefing.frames) and pandas counts
them: the same briefing, which the tests compare, at a cost that grows with
the client (a minute and more for a million events). The
result is a tree of dataclasses (reports.briefing.model) that render.py turns
into HTML or PDF and the API dumps as JSON. Both steps can run many times in a
row (batches, benchmarks): nothing is cached between briefings.

**The period** runs from the last meeting logged on the timeline before the
meeting day to the meeting, or over the last DEFAULT_PERIOD when there was
none. A briefing is read as of now, or, for a meeting day already past, as of
the start of that day (the picture the account manager had that morning).
The previous period, for the health score's change, is as long and ends where
this one starts.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.clients.lifespan import check_day
from crm.database import planned_for_their_values
from crm.formatting import zone as client_zone
from crm.models import Client, Event, is_meeting
from crm.models.types import utcnow
from crm.money import rates_from_config
from crm.vocabulary import SETTING_GROUP_KINDS
from reports.briefing.bounds import bound
from reports.briefing.census import take_census
from reports.briefing.counted import campaigns, kind_counts, month_counts, period_tallies
from reports.briefing.counted import times_to_resolve as resolve_times
from reports.briefing.flags import (
    DEFAULT_STALE_DAYS,
    RECURRING_WINDOW,
    aging_summary,
    snapshot_flags,
)
from reports.briefing.frames import Window, load_frames
from reports.briefing.model import SHOWN_POINTS, Briefing, ClientSummary, Period
from reports.briefing.money import money_totals, recurring_revenue
from reports.briefing.numbers import chart_months, health, health_of, numbers_of, period_numbers
from reports.briefing.shown import pick, shown_frames
from reports.briefing.snapshot import Scope, Snapshot
from reports.briefing.talking_points import CAMPAIGN_WINDOW, talking_points
from reports.briefing.threads import ThreadEvents

__all__ = ["briefing_window", "build_briefing", "meeting_period"]

DEFAULT_PERIOD = timedelta(days=90)


def build_briefing(
    session: Session,
    client: Client,
    meeting_date: date | None = None,
    now: datetime | None = None,
    *,
    stale_ticket_days: int | None = None,
    whole: bool = False,
) -> Briefing:
    """The briefing for a meeting with `client` on `meeting_date` (default: today, client
    time); crm.clients.lifespan.BeforeClient when that day is before the client existed.

    `whole`: read every event and thread the briefing's figures rest on and
    analyse them in pandas, rather than count in the database and read only
    what is shown (see the module's docstring); the same briefing, slowly."""
    now = now or utcnow()
    zone = client_zone(client.timezone)
    if stale_ticket_days is None:
        stale_ticket_days = current_app.config.get("BRIEFING_STALE_TICKET_DAYS", DEFAULT_STALE_DAYS)
    period = meeting_period(session, client, meeting_date, now)
    check_day(session, client, period.meeting_date)  # BeforeClient: nothing true to say
    # Read now, any closing on record counts (as in the directory and the card).
    scope = Scope(
        period.end,
        period.start,
        stale_ticket_days,
        zone,
        period.last_meeting_at,
        present=period.end >= now,
    )
    before = Scope(period.start, period.previous_start, stale_ticket_days, zone)
    read = _whole if whole else _counted
    flags, scored, aging, points, numbers, census = read(session, client.id, period, scope, before)
    briefing = Briefing(
        client=ClientSummary(
            slug=client.slug,
            name=client.name,
            tier=client.tier,
            status=client.status,
            groups=[g.name for g in client.groups if g.kind not in SETTING_GROUP_KINDS],
            account_manager=client.account_manager,
            timezone=zone.key,
            url=client_path(client.slug),
        ),
        period=period,
        generated_at=now,
        stale_ticket_days=stale_ticket_days,
        health=scored,
        flags=flags,
        aging=aging,
        talking_points=points,
        numbers=numbers,
    )
    briefing.money = money_totals(
        briefing.aging, numbers.revenue, rates_from_config(current_app.config)
    )
    recurring_revenue(session, client.id, briefing, rates_from_config(current_app.config))
    bound(briefing, census)  # then link what is shown, not every flag of a busy client
    _link(briefing)
    return briefing


def briefing_window(period: Period, zone: ZoneInfo) -> Window:
    """What the frames must hold for a briefing of `period`: the previous period,
    recent campaigns, recurring alerts, and the twelve months of the charts."""
    return Window(
        as_of=period.end,
        period_start=period.start,
        previous_start=period.previous_start,
        # the previous period's flags look for recurrences before its end too
        alerts_since=period.start - RECURRING_WINDOW,
        campaigns_since=period.end - CAMPAIGN_WINDOW,
        chart_months=tuple(chart_months(period.end, zone)),
    )


def _whole(session: Session, client_id: int, period: Period, scope: Scope, before: Scope):
    """Every flag, point and figure from the whole frames (reports.briefing.frames)."""
    frames = load_frames(session, client_id, briefing_window(period, scope.zone))
    threads = ThreadEvents(frames.events)
    snapshot = Snapshot.take(frames.events, frames.entities, scope, threads)
    flags = snapshot_flags(snapshot)
    previous_flags = snapshot_flags(Snapshot.take(frames.events, frames.entities, before, threads))
    points = talking_points(snapshot, SHOWN_POINTS)
    numbers = period_numbers(
        frames.events,
        period_start=period.start,
        previous_start=period.previous_start,
        as_of=period.end,
        zone=scope.zone,
        months=frames.months,
    )
    return flags, health(flags, previous_flags), aging_summary(flags), points, numbers, None


def _counted(session: Session, client_id: int, period: Period, scope: Scope, before: Scope):
    """The counts from the database (reports.briefing.census), and the flags and
    points shown explained from their threads (reports.briefing.shown)."""
    census = take_census(session, client_id, scope, before)
    picked = pick(session, client_id, scope, census.first_lines)
    census.sizes = picked.sizes
    frames = shown_frames(session, client_id, scope, picked, census.solved)
    snapshot = Snapshot.take(frames.events, frames.entities, scope)
    flags = [flag for flag in snapshot_flags(snapshot) if picked.shows(flag)]
    found, told = campaigns(session, client_id, scope, SHOWN_POINTS)
    points = talking_points(snapshot, SHOWN_POINTS, found)
    points.totals.update(
        campaigns=told,
        work_done=census.work_done,
        deals_won=census.deals_won,
        renewals_due=census.renewals_due,
        open_quotes=census.open_quotes,
    )
    ids: dict[str, list[int]] = defaultdict(list)
    for flag in flags:
        ids[flag.kind] += flag.event_ids
    window = briefing_window(period, scope.zone)
    with planned_for_their_values(session):
        counted = kind_counts(session, client_id, window)
        numbers = numbers_of(
            *period_tallies(session, client_id, window, counted),
            resolve_times(session, client_id, period.start, period.end),
            month_counts(counted, window),
            period.end,
            scope.zone,
        )
    aging = census.aging_buckets(aging_summary(flags))
    return flags, health_of(census.now, census.before, ids), aging, points, numbers, census


def meeting_period(
    session: Session, client: Client, meeting_date: date | None, now: datetime
) -> Period:
    """What a briefing for `meeting_date` covers (see the module's docstring)."""
    zone = client_zone(client.timezone)
    today = now.astimezone(zone).date()
    meeting_date = meeting_date or today
    morning = datetime.combine(meeting_date, time(0), zone).astimezone(UTC)
    end = now if meeting_date >= today else morning
    last = session.execute(
        select(Event.id, Event.occurred_at)
        .where(
            Event.client_id == client.id,
            is_meeting,
            Event.occurred_at < min(morning, end),
        )
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(1)
    ).first()
    start = last.occurred_at if last else end - DEFAULT_PERIOD
    return Period(
        meeting_date=meeting_date,
        start=start,
        end=end,
        previous_start=start - (end - start),
        last_meeting_at=last.occurred_at if last else None,
        last_meeting_event_id=last.id if last else None,
    )


def client_path(slug: str) -> str:
    return f"/clients/{quote(slug, safe='')}"


def thread_path(slug: str, thread_type: str, key: str) -> str:
    """The thread page (crm.timeline's `timeline.thread_page`)."""
    return f"{client_path(slug)}/threads/{quote(thread_type, safe='')}/{quote(key, safe='/')}"


def timeline_path(slug: str, start: datetime, end: datetime, **filters) -> str:
    """The client's timeline filtered to the UTC days from `start` to `end`."""
    query = {**filters, "from": start.astimezone(UTC).date(), "to": end.astimezone(UTC).date()}
    return f"{client_path(slug)}?{urlencode(query)}#timeline"


def _link(briefing: Briefing) -> None:
    """Point every flag and talking point at its thread, and every count at the timeline."""
    slug, period = briefing.client.slug, briefing.period
    points = briefing.talking_points
    items = [
        *briefing.flags,
        *points.work_done,
        *points.deals_won,
        *points.renewals_due,
        *points.open_quotes,
        *points.campaigns,
    ]
    for item in items:
        if item.thread_type and item.thread_key:
            item.thread_url = thread_path(slug, item.thread_type, item.thread_key)
    numbers = briefing.numbers
    for count in numbers.touches:
        count.timeline_url = timeline_path(slug, period.start, period.end, source=count.source)
    numbers.tickets_url = timeline_path(
        slug, period.start, period.end, kind="ticket.opened,ticket.resolved"
    )
    numbers.billing_url = timeline_path(
        slug, period.start, period.end, kind="invoice.issued,payment.received,refund.issued"
    )
    numbers.alerts_url = timeline_path(
        slug, period.start, period.end, kind="alert.raised,alert.resolved"
    )
