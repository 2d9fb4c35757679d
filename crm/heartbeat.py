"""Whether work that says it is running still is.

An ingest run or a job writes a heartbeat as it goes (every committed batch,
every step of progress). A process killed mid-work (kill -9, a lost
machine) writes no more, and its row would say `running` for ever; so a
running row whose heartbeat is older than HEARTBEAT_STALE_SECONDS is shown
as `interrupted`, and a job's next delivery may take it over. Running it
again is safe: the pipeline writes nothing twice.
"""

from datetime import UTC, datetime, timedelta

from flask import current_app, has_app_context

DEFAULT_STALE_SECONDS = 600
INTERRUPTED = "interrupted"


def stale_after() -> timedelta:
    """How long a heartbeat may be silent before its work counts as stopped."""
    seconds = DEFAULT_STALE_SECONDS
    if has_app_context():
        seconds = current_app.config.get("HEARTBEAT_STALE_SECONDS", seconds)
    return timedelta(seconds=seconds)


def shown_status(status: str, heartbeat_at: datetime | None, now: datetime | None = None) -> str:
    """`status`, or `interrupted` for running work whose heartbeat stopped."""
    if status != "running" or heartbeat_at is None:
        return status
    now = now or datetime.now(UTC)  # the models import this module: not their utcnow
    return INTERRUPTED if heartbeat_at < now - stale_after() else status
