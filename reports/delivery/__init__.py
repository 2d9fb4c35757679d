"""E-mail: briefings delivered before meetings and the weekly executive
digest. When each is due (crm.meetings.schedule, digest.py), how it is sent
(mail.py), the log (models.py) and the run that sends what is due
(operations.py, digest.py), from `flask deliver --due` (cron) or the Celery
beat job. Every message carries a one-click way to stop it (unsubscribe.py)."""

import os
from datetime import UTC, datetime

import click
from flask import Flask, current_app

DEFAULTS = {
    # Where and as whom e-mail is sent (mail.py).
    "SMTP_URL": ("TOUCHLINE_SMTP_URL", None),
    "MAIL_FROM": ("TOUCHLINE_MAIL_FROM", "touchline@localhost"),
    # When briefings are due: this time, the working day before, in this zone.
    "DELIVERY_TIMEZONE": ("TOUCHLINE_DELIVERY_TIMEZONE", "UTC"),
    "DELIVERY_WORKING_DAYS": ("TOUCHLINE_DELIVERY_WORKING_DAYS", "Mon-Fri"),
    "DELIVERY_SEND_AT": ("TOUCHLINE_DELIVERY_SEND_AT", "09:00"),
    # The weekly digest to executives: this day and time, in each one's time
    # zone (set at /account), else DELIVERY_TIMEZONE.
    "DIGEST_WEEKDAY": ("TOUCHLINE_DIGEST_WEEKDAY", "Mon"),
    "DIGEST_SEND_AT": ("TOUCHLINE_DIGEST_SEND_AT", "08:00"),
    # Where the links in e-mail (unsubscribe, the digest's clients) point.
    "PUBLIC_URL": ("TOUCHLINE_PUBLIC_URL", "http://localhost:5000"),
    # How often the Celery beat job looks for briefings due (seconds).
    "DELIVERY_INTERVAL_SECONDS": ("TOUCHLINE_DELIVERY_INTERVAL_SECONDS", "300"),
}


def init_app(app: Flask) -> None:
    from crm.extensions import db
    from reports.delivery import models  # noqa: F401 - the deliveries table
    from reports.delivery.operations import (
        DeliverySettings,
        deliveries_of,
        recipient_account,
    )

    for key, (variable, default) in DEFAULTS.items():
        app.config.setdefault(key, os.environ.get(variable) or default)
    # A setting that cannot be read stops the app at start, not the first delivery.
    DeliverySettings.from_config(app.config)
    app.cli.add_command(deliver_command)
    from reports.delivery.tasks import beat_schedule

    celery = app.extensions.get("celery")
    if celery is not None:
        interval = int(app.config["DELIVERY_INTERVAL_SECONDS"])
        celery.conf.beat_schedule = dict(celery.conf.beat_schedule or {}) | beat_schedule(interval)

    @app.context_processor
    def _deliveries() -> dict:
        from reports.delivery.digest import recent_digest_deliveries

        settings = DeliverySettings.from_config(current_app.config)
        return {
            "digest_deliveries": lambda: recent_digest_deliveries(db.session),
            "digest_schedule": settings.describe_digest_schedule(),
            "meeting_deliveries": lambda meeting_id: deliveries_of(db.session, meeting_id),
            "meeting_briefing_due": lambda meeting: DeliverySettings.from_config(
                current_app.config
            ).due_at(meeting.starts_at, recipient_account(db.session, meeting)),
        }


@click.command("deliver")
@click.option("--due", is_flag=True, required=True, help="Send the briefings and digests due now.")
@click.option(
    "--at",
    "at_text",
    metavar="ISO-TIME",
    help="Send what is due at this moment instead of now (with an offset, or UTC).",
)
def deliver_command(due: bool, at_text: str | None) -> None:
    """Send each planned meeting's briefing to its account manager when it is
    due (default 09:00 the working day before), and the weekly digest to
    executives (default Monday 08:00); run it from cron every few minutes
    without Redis. Failures are retried by the next run, then shown on the
    meeting or on /reports/digest."""
    from crm.extensions import db
    from crm.models.types import utcnow
    from reports.delivery.digest import deliver_digests_due
    from reports.delivery.operations import DeliverySettings, deliver_due

    at = utcnow()
    if at_text:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise click.BadParameter(
                f"{at_text!r} is not an ISO 8601 time", param_hint="--at"
            ) from None
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
    settings = DeliverySettings.from_config(current_app.config)
    for delivery in deliver_due(db.session, at, settings):
        meeting = delivery.meeting
        line = (
            f"{delivery.status}: {meeting.client.slug} meeting {meeting.id} to {delivery.recipient}"
        )
        click.echo(line + (f" ({delivery.error})" if delivery.error else ""))
    for sent in deliver_digests_due(db.session, at, settings):
        line = f"{sent.status}: digest of week {sent.week} to {sent.recipient}"
        click.echo(line + (f" ({sent.error})" if sent.error else ""))
