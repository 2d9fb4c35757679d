"""Send each meeting's briefing to its account manager before the meeting.

`deliver_due(session, at)` finds the planned meetings whose briefing is due
at `at` (schedule.due_at: 09:00 the working day before, in the recipient's
time zone) and not yet sent, builds the briefing for the meeting's day (its
period starts at the last logged meeting), and mails the PDF with a short
HTML summary of the flags. Every attempt is logged on the meeting (a
Delivery row): sent, or its error. A failure is retried by the next run, up
to MAX_ATTEMPTS, and then shown as failed; a meeting nobody can receive (no
account manager's address) is logged as failed at once, never skipped in
silence. Each delivery is committed on its own, so one failure never undoes
the log of the others. A recipient who stopped briefings (/account, or the
link every briefing carries) is logged as declined and sent nothing.
`flask deliver --due` and the Celery beat job call it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.accounts.mail import receives
from crm.accounts.models import User
from crm.meetings.models import Meeting
from crm.meetings.schedule import due_at, parse_working_days
from reports.briefing import build_briefing
from reports.briefing.render import briefing_pdf, pdf_filename
from reports.delivery import mail
from reports.delivery.models import Delivery
from reports.delivery.unsubscribe import add_unsubscribe_headers, unsubscribe_url

MAX_ATTEMPTS = 3
# The earliest a briefing is due: the working day before, at most a week
# before the meeting (one working day a week), so later meetings are not read.
HORIZON = timedelta(days=8)
NO_RECIPIENT = "(nobody)"


@dataclass(frozen=True)
class DeliverySettings:
    zone: tzinfo
    working_days: tuple[int, ...]
    send_at: time
    sender: str
    smtp_url: str | None
    # The weekly digest: this weekday (Monday=0) and time (reports.delivery.digest).
    digest_weekday: int = 0
    digest_send_at: time = time(8, 0)
    # The links in e-mail: where the site is, and the key that signs them.
    public_url: str = "http://localhost:5000"
    secret_key: str = ""

    @classmethod
    def from_config(cls, config) -> "DeliverySettings":
        weekday = parse_working_days(config["DIGEST_WEEKDAY"])
        if len(weekday) != 1:
            raise ValueError(f"TOUCHLINE_DIGEST_WEEKDAY names one day, not {weekday!r}")
        return cls(
            zone=ZoneInfo(config["DELIVERY_TIMEZONE"]),
            working_days=parse_working_days(config["DELIVERY_WORKING_DAYS"]),
            send_at=_clock(config["DELIVERY_SEND_AT"]),
            sender=config["MAIL_FROM"],
            smtp_url=config["SMTP_URL"],
            digest_weekday=weekday[0],
            digest_send_at=_clock(config["DIGEST_SEND_AT"]),
            public_url=config["PUBLIC_URL"],
            secret_key=config["SECRET_KEY"],
        )

    def describe_digest_schedule(self) -> str:
        """ "Mondays at 08:00", for the pages that say when the digest goes."""
        name = ("Mon", "Tues", "Wednes", "Thurs", "Fri", "Satur", "Sun")[self.digest_weekday]
        return f"{name}days at {self.digest_send_at:%H:%M}"

    def unsubscribe_url(self, email: str, kind: str) -> str:
        return unsubscribe_url(self.public_url, self.secret_key, email, kind)

    def zone_of(self, user: User | None) -> tzinfo:
        """The user's own time zone (set on /account), else the default."""
        return ZoneInfo(user.timezone) if user is not None and user.timezone else self.zone

    def working_days_of(self, user: User | None) -> tuple[int, ...]:
        """The user's own working days (set on /account), else the default."""
        if user is not None and user.working_days:
            return parse_working_days(user.working_days) or self.working_days
        return self.working_days

    def digest_weekday_of(self, user: User | None) -> int:
        """The weekday the digest reaches `user`: DIGEST_WEEKDAY, or when that
        is not one of their working days, their next working day after it."""
        days = self.working_days_of(user)
        for step in range(7):
            weekday = (self.digest_weekday + step) % 7
            if weekday in days:
                return weekday
        return self.digest_weekday

    def due_at(self, starts_at: datetime, user: User | None = None) -> datetime:
        """When the briefing is due for `user` (their own time zone and working
        days, where they set them on /account), else with the defaults."""
        zone, days = self.zone_of(user), self.working_days_of(user)
        return due_at(starts_at, zone, working_days=days, send_at=self.send_at)


def _clock(text: str) -> time:
    """ "09:00" -> 09:00; a setting that cannot be read raises ValueError."""
    hours, _, minutes = text.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def recipient_of(meeting: Meeting) -> str | None:
    """The address the briefing goes to: the meeting's owner, else the
    client's account manager's account (while active), else a manager's
    name that matched no account when it is an address."""
    if meeting.owner:
        return meeting.owner
    manager = meeting.client.manager
    if manager is not None:
        return manager.email if manager.active else None
    unmatched = (meeting.client.unmatched_manager or "").strip().lower()
    return unmatched if "@" in unmatched else None


def due_meetings(
    session: Session, at: datetime, settings: DeliverySettings
) -> list[tuple[Meeting, datetime]]:
    """Planned meetings still ahead whose briefing is due at `at` for its
    recipient, soonest first, each with its due time."""
    candidates = session.scalars(
        select(Meeting)
        .where(
            Meeting.status == "planned",
            Meeting.starts_at > at,
            Meeting.starts_at <= at + HORIZON,
        )
        .order_by(Meeting.starts_at, Meeting.id)
    )
    due = []
    for meeting in candidates:
        when = settings.due_at(meeting.starts_at, recipient_account(session, meeting))
        if when <= at:
            due.append((meeting, when))
    return due


def recipient_account(session: Session, meeting: Meeting) -> User | None:
    """The recipient's account, whose time zone and working days say when
    the briefing is due: the client's manager's, or the owner's by address."""
    recipient = recipient_of(meeting)
    if recipient is None:
        return None
    manager = meeting.client.manager
    if manager is not None and manager.email == recipient:
        return manager
    return session.scalar(select(User).where(User.email == recipient))


def deliver_due(
    session: Session,
    at: datetime,
    settings: DeliverySettings,
    send: Callable[[mail.SmtpSettings, EmailMessage], None] = mail.send,
) -> list[Delivery]:
    """Send what is due at `at`; the deliveries attempted (committed)."""
    attempted = []
    for meeting, when in due_meetings(session, at, settings):
        recipient = recipient_of(meeting) or NO_RECIPIENT
        delivery = session.scalar(
            select(Delivery).where(
                Delivery.meeting_id == meeting.id, Delivery.recipient == recipient
            )
        )
        if delivery is None:
            delivery = Delivery(
                meeting=meeting,
                recipient=recipient,
                due_at=when,
                status="pending",
                attempts=0,
            )
            session.add(delivery)
        if delivery.status != "pending":
            continue
        _attempt(session, delivery, at, settings, send)
        session.commit()
        attempted.append(delivery)
    return attempted


def _attempt(session, delivery: Delivery, at, settings, send) -> None:
    if delivery.recipient == NO_RECIPIENT:
        delivery.attempts += 1
        delivery.last_attempt_at = at
        delivery.status = "failed"
        delivery.error = (
            "nobody to send it to: give the meeting an owner or the client an "
            "active account as its account manager"
        )
        return
    if not receives(session, delivery.recipient, "briefing"):
        delivery.last_attempt_at, delivery.status = at, "declined"
        delivery.error = f"{delivery.recipient} stopped briefings by e-mail"
        return
    meeting = delivery.meeting
    built = []

    def message() -> EmailMessage:
        day = meeting.starts_at.astimezone(ZoneInfo(meeting.client.timezone)).date()
        briefing = build_briefing(session, meeting.client, day, now=at)
        built.append(briefing)
        url = settings.unsubscribe_url(delivery.recipient, "briefing")
        composed = compose(meeting, briefing, delivery.recipient, settings.sender, url)
        composed.add_attachment(
            briefing_pdf(briefing),
            maintype="application",
            subtype="pdf",
            filename=pdf_filename(briefing),
        )
        return composed

    if attempt(delivery, at, settings, send, message):
        delivery.briefing = pdf_filename(built[0])
        delivery.period_start = built[0].period.start


def attempt(row, at: datetime, settings: DeliverySettings, send, message) -> bool:
    """One try at sending `message()` for a log row (a Delivery or a
    DigestDelivery): counted, and sent or its error kept; after MAX_ATTEMPTS
    failures the row is failed, else it stays pending for the next run."""
    row.attempts += 1
    row.last_attempt_at = at
    try:
        smtp = mail.SmtpSettings.from_url(settings.smtp_url)
        send(smtp, message())
    except mail.MailError as error:
        row.error = str(error)
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        return False
    row.status, row.sent_at, row.error = "sent", at, None
    return True


def compose(
    meeting: Meeting, briefing, recipient: str, sender: str, unsubscribe: str
) -> EmailMessage:
    """The e-mail: a subject naming the meeting, a short text and HTML body
    with the flags and the link that stops them (the PDF is attached by the
    caller)."""
    zone = ZoneInfo(meeting.client.timezone)
    local = meeting.starts_at.astimezone(zone)
    message = EmailMessage()
    message["Subject"] = (
        f"Briefing: {meeting.client.name}, {meeting.kind_label.lower()} "
        f"{local:%a %d %b %H:%M} ({meeting.client.timezone})"
    )
    message["From"] = sender
    message["To"] = recipient
    add_unsubscribe_headers(message, unsubscribe)
    context = {
        "meeting": meeting,
        "briefing": briefing,
        "local": local,
        "unsubscribe": unsubscribe,
    }
    message.set_content(render_template("delivery/briefing_mail.txt", **context))
    message.add_alternative(
        render_template("delivery/briefing_mail.html", **context), subtype="html"
    )
    return message


def deliveries_of(session: Session, meeting_id: int) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery).where(Delivery.meeting_id == meeting_id).order_by(Delivery.id)
        )
    )
