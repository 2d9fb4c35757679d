"""The weekly executive digest by e-mail: to every active user with the
executive role who has not stopped it, on DIGEST_WEEKDAY at DIGEST_SEND_AT
(default Monday 08:00) in each one's own time zone (set on /account, else
DELIVERY_TIMEZONE), or on their next working day when that weekday is not
one of theirs (their working days, else DELIVERY_WORKING_DAYS). The content
is /reports/digest's (reports.digest's `digest_context`, rendered from the
same template), built at the moment of sending.

Logged like the briefings (a DigestDelivery per recipient and week): sent,
retried by the next run after a failure up to MAX_ATTEMPTS, then failed and
shown on /reports/digest. A digest is only started up to CATCH_UP after it
was due, so a server started on a Thursday does not send Monday's digest
three days late; one already started is retried whenever the run comes.
"""

from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from functools import partial

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.accounts.mail import receives
from crm.accounts.models import User, UserRole
from crm.meetings.schedule import wall_clock
from reports.delivery import mail
from reports.delivery.models import DigestDelivery
from reports.delivery.operations import DeliverySettings, attempt
from reports.delivery.unsubscribe import add_unsubscribe_headers
from reports.digest.digest import digest_context

CATCH_UP = timedelta(days=1)
RECENT = 20  # deliveries shown on /reports/digest


def weekly_due(at: datetime, zone: tzinfo, weekday: int, send_at: time) -> datetime:
    """The latest moment at or before `at` when the digest was due in `zone`:
    `send_at` on `weekday` (Monday=0) on that zone's clock, across changes
    to and from summer time (crm.meetings.schedule.wall_clock)."""
    local = at.astimezone(zone)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    moment = wall_clock(day, send_at, zone)
    return moment if moment <= at else wall_clock(day - timedelta(days=7), send_at, zone)


def executives(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole)
            .where(User.active.is_(True), UserRole.role == "executive")
            .order_by(User.email)
        )
    )


def deliver_digests_due(
    session: Session,
    at: datetime,
    settings: DeliverySettings,
    send: Callable[[mail.SmtpSettings, EmailMessage], None] = mail.send,
) -> list[DigestDelivery]:
    """Send the digests due at `at`; the deliveries attempted (committed)."""
    attempted: list[DigestDelivery] = []
    content: list[dict] = []  # built once, for the first recipient due
    for user in executives(session):
        zone = settings.zone_of(user)
        weekday = settings.digest_weekday_of(user)
        when = weekly_due(at, zone, weekday, settings.digest_send_at)
        week = when.astimezone(zone).date()
        row = session.scalar(
            select(DigestDelivery).where(
                DigestDelivery.recipient == user.email, DigestDelivery.week == week
            )
        )
        if row is None:
            if at - when > CATCH_UP or not receives(session, user.email, "digest"):
                continue
            row = DigestDelivery(recipient=user.email, week=week, due_at=when, attempts=0)
            row.status = "pending"
            session.add(row)
        if row.status != "pending":
            continue
        if not receives(session, user.email, "digest"):
            row.last_attempt_at, row.status = at, "declined"
            row.error = f"{user.email} stopped the digest by e-mail"
        else:
            if not content:
                content.append(digest_context(session, current_app.config, at))
            message = partial(compose_digest, content[0], user, settings)
            attempt(row, at, settings, send, message)
        session.commit()
        attempted.append(row)
    return attempted


def compose_digest(context: dict, user: User, settings: DeliverySettings) -> EmailMessage:
    """The e-mail: the page's four lists as HTML and as text, with the link
    that stops it."""
    digest = context["digest"]
    unsubscribe = settings.unsubscribe_url(user.email, "digest")
    message = EmailMessage()
    message["Subject"] = (
        f"Weekly digest: {len(digest.new_critical)} new critical, {len(digest.fallen)} fell, "
        f"{len(digest.renewals)} renewing, {len(digest.meeting_overdue)} overdue"
    )
    message["From"] = settings.sender
    message["To"] = user.email
    add_unsubscribe_headers(message, unsubscribe)
    values = context | {
        "user": user,
        "unsubscribe": unsubscribe,
        "link_base": settings.public_url.rstrip("/"),
    }
    message.set_content(render_template("delivery/digest_mail.txt", **values))
    message.add_alternative(render_template("delivery/digest_mail.html", **values), subtype="html")
    return message


def recent_digest_deliveries(session: Session) -> list[DigestDelivery]:
    return list(
        session.scalars(
            select(DigestDelivery)
            .order_by(DigestDelivery.week.desc(), DigestDelivery.recipient)
            .limit(RECENT)
        )
    )
