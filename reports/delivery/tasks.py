"""The Celery beat job that sends the briefings and weekly digests due (with
Redis; without it, `flask deliver --due` from cron does the same). The beat
runs every few minutes; the weekly schedule is in reports.delivery.digest.
Safe to run twice at once: a delivery already sent is not sent again (one
row per meeting and recipient, or recipient and week), and a run sends only
what is due at its moment."""

from datetime import datetime

from celery import shared_task
from flask import current_app

from crm.extensions import db
from crm.models.types import utcnow

TASK = "reports.deliver_due"


@shared_task(name=TASK)
def deliver_due_task(at: str | None = None) -> dict:
    """Send the briefings and weekly digests due at `at` (ISO 8601, default
    now); the counts by status ("sent", "digest sent", ...)."""
    from reports.delivery.digest import deliver_digests_due
    from reports.delivery.operations import DeliverySettings, deliver_due

    moment = datetime.fromisoformat(at) if at else utcnow()
    settings = DeliverySettings.from_config(current_app.config)
    counts: dict[str, int] = {}
    for delivery in deliver_due(db.session, moment, settings):
        counts[delivery.status] = counts.get(delivery.status, 0) + 1
    for digest in deliver_digests_due(db.session, moment, settings):
        key = f"digest {digest.status}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def beat_schedule(interval_seconds: int) -> dict:
    """The beat entry: every `interval_seconds` (a briefing is at most that late)."""
    return {"deliver-due-briefings": {"task": TASK, "schedule": float(interval_seconds)}}
