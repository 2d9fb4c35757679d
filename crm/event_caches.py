"""The caches kept by every write of events: collected revenue per client,
month and currency (crm.collected) and events per client, day and kind
(crm.day_counts).

Each is a cache of the events, never a rule of its own, and each must see
every event written, by whatever door: the pipeline's writer, the ORM (a
touch, a commitment, a test's event), and bulk loads that bypass both (COPY,
Core inserts: they rebuild). Those doors call this module, not the caches
one by one, so that a door cannot keep one cache and forget another, and a
new cache is one entry in CACHES.
"""

from collections.abc import Sequence

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from crm import collected, day_counts
from crm.models import Event

CACHES = (collected, day_counts)


def record(session: Session, rows: Sequence[tuple]) -> None:
    """Add newly inserted events, (client_id, kind, occurred_at, amount,
    currency) each, to every cache, in the transaction that inserted them."""
    if rows:
        for cache in CACHES:
            cache.record(session, rows)


def rebuild(connection: Connection) -> dict[str, int]:
    """Recompute every cache from the events (after a bulk load that
    bypassed the writer and the ORM); the rows each wrote, by module."""
    return {cache.__name__: cache.rebuild(connection) for cache in CACHES}


def _flushed_events(session: Session, _flush_context) -> None:
    """Events added through the ORM are inserted by this flush: add them too."""
    record(
        session,
        [
            (e.client_id, e.kind, e.occurred_at, e.amount, e.currency)
            for e in session.new
            if isinstance(e, Event)
        ],
    )


def init_app(app) -> None:
    """Keep the caches true of events flushed through the ORM in any session
    of the app (the pipeline's writer records its own inserts)."""
    if not event.contains(Session, "after_flush", _flushed_events):
        event.listen(Session, "after_flush", _flushed_events)
