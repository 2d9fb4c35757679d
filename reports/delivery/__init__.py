"""Briefings delivered by e-mail before meetings: when they are due
(schedule.py), how they are sent (mail.py), the log (models.py) and the run
that sends what is due (operations.py), from `flask deliver --due` (cron)
or the Celery beat job."""

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
        return {
            "meeting_deliveries": lambda meeting_id: deliveries_of(db.session, meeting_id),
            "meeting_briefing_due": lambda meeting: DeliverySettings.from_config(
                current_app.config
            ).due_at(meeting.starts_at, recipient_account(db.session, meeting)),
        }


@click.command("deliver")
@click.option("--due", is_flag=True, required=True, help="Send the briefings due now.")
@click.option(
    "--at",
    "at_text",
    metavar="ISO-TIME",
    help="Send what is due at this moment instead of now (with an offset, or UTC).",
)
def deliver_command(due: bool, at_text: str | None) -> None:
    """Send each planned meeting's briefing to its account manager when it is
    due (default 09:00 the working day before); run it from cron every few
    minutes without Redis. Failures are retried by the next run, then shown
    on the meeting."""
    from crm.extensions import db
    from crm.models.types import utcnow
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
