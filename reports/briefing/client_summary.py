"""The QBR summary: the briefing's client-facing twin, a PDF to hand the
client in the meeting.

It says what the client should hear: the work done in the period (tickets
solved), the service levels met (how many solved, the median time to
resolve, how many within their SLA where one was set), what is planned
(our open commitments that are not marked internal, the next meeting) and
the renewals ahead. It is built from the same briefing (the period, the
work done and the renewals of `build_briefing`), and what it leaves out is
the point: no flags, no "don't get ambushed", no health score, no talking
points phrased for us, no notes, no commitment marked internal
(crm.timeline.touches.INTERNAL). Only what is listed here reaches the page.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from statistics import median

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.formatting import span
from crm.formatting import zone as client_zone
from crm.meetings.models import Meeting
from crm.meetings.schedule import wall_clock
from crm.models import Client, Entity, Event
from crm.timeline.queries import commitments
from crm.timeline.touches import INTERNAL
from reports.briefing import build_briefing
from reports.briefing.model import Briefing
from reports.briefing.render import page_size
from reports.pdf import render_pdf


@dataclass(frozen=True)
class Item:
    """One line the client reads: a ticket solved, a promise, a renewal."""

    title: str
    at: datetime | None
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class QbrSummary:
    briefing: Briefing  # for the client's name, time zone and the period only
    work_done: list[Item]  # newest first, as the briefing lists them
    tickets_solved: int
    median_time_to_resolve: timedelta | None
    within_sla: int  # of the solved tickets that had an SLA due time
    with_sla: int
    planned: list[Item]  # open commitments not marked internal, soonest first
    next_meeting: Meeting | None
    renewals: list[Item]


def build_qbr_summary(
    session: Session, client: Client, meeting_date: date | None = None, now: datetime | None = None
) -> QbrSummary:
    briefing = build_briefing(session, client, meeting_date, now)
    period = briefing.period
    points = briefing.talking_points
    solved = list(
        session.scalars(
            select(Entity).where(
                Entity.client_id == client.id,
                Entity.type == "ticket",
                Entity.closed_at >= period.start,
                Entity.closed_at < period.end,
            )
        )
    )
    timed = [ticket for ticket in solved if ticket.sla_due_at is not None]
    return QbrSummary(
        briefing=briefing,
        work_done=_items(session, client, "ticket", points.work_done),
        tickets_solved=briefing.numbers.tickets_resolved,
        median_time_to_resolve=(
            median(ticket.closed_at - ticket.opened_at for ticket in solved) if solved else None
        ),
        within_sla=sum(ticket.closed_at <= ticket.sla_due_at for ticket in timed),
        with_sla=len(timed),
        planned=_planned(session, client, period.end),
        next_meeting=_next_meeting(session, client, period.meeting_date),
        renewals=_items(session, client, "renewal", points.renewals_due),
    )


def _items(session, client: Client, thread_type: str, points) -> list[Item]:
    """The threads behind the briefing's points, named by their own titles
    (the points are phrased for us: "is it working well?")."""
    keys = [point.thread_key for point in points if point.thread_key]
    threads = {
        thread.key: thread
        for thread in session.scalars(
            select(Entity).where(
                Entity.client_id == client.id,
                Entity.type == thread_type,
                Entity.key.in_(keys),
            )
        )
    }
    items = []
    for point in points:
        thread = threads.get(point.thread_key)
        if thread is not None:
            title = thread.title or thread.key
            items.append(Item(title, point.at, thread.amount, thread.currency))
    return items


def _planned(session, client: Client, as_of: datetime) -> list[Item]:
    promised = commitments(session, client.id, "open", as_of)
    internal = _internal_keys(session, client, [commitment.key for commitment in promised])
    return [
        Item(commitment.title or commitment.key, commitment.due_at)
        for commitment in promised
        if commitment.key not in internal
    ]


def _internal_keys(session, client: Client, keys: list[str]) -> set[str]:
    events = session.scalars(
        select(Event).where(
            Event.client_id == client.id,
            Event.kind == "commitment.made",
            Event.thread_key.in_(keys),
        )
    )
    # The mark is read here, not in SQL: JSON is queried differently on each engine.
    return {event.thread_key for event in events if (event.attributes or {}).get(INTERNAL)}


def _next_meeting(session, client: Client, meeting_day: date) -> Meeting | None:
    """The first meeting planned after the meeting day (the one this summary is for)."""
    after = wall_clock(meeting_day + timedelta(days=1), time(0, 0), client_zone(client.timezone))
    return session.scalar(
        select(Meeting)
        .where(
            Meeting.client_id == client.id,
            Meeting.status == "planned",
            Meeting.starts_at >= after,
        )
        .order_by(Meeting.starts_at, Meeting.id)
        .limit(1)
    )


def qbr_summary_pdf(summary: QbrSummary) -> bytes:
    html = render_template(
        "reports/qbr_summary.html",
        summary=summary,
        client=summary.briefing.client,
        period=summary.briefing.period,
        page_size=page_size(current_app.config.get("PDF_PAGE_SIZE")),
        duration=span,
    )
    return render_pdf(html)


def qbr_filename(summary: QbrSummary) -> str:
    day = summary.briefing.period.meeting_date.isoformat()
    return f"summary-{summary.briefing.client.slug}-{day}.pdf"
