"""Touches staff log by hand: notes, calls, meetings, and commitments.

Each is signed by `actor`, which the pages and the API take from the signed-in
account (crm.accounts.guard.author_name), never from a name typed in, and each
writes an entry in the audit log naming the account.

They are events like any other (source `manual`, origin `touchline`, each
with a fresh external id), so the timeline, the threads and the card show
them with no special case. A commitment is a thread of its own: made, then
done. After writing, its state is folded again from all of its stored events,
exactly as the ingest pipeline folds a thread (crm.threads), so an imported
`commitment.done` and one marked here give the same entity.

These functions flush; the caller commits. Times are aware datetimes (the
forms read the client's local time and convert it, see schemas.py).
"""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.accounts.operations import audit
from crm.errors import FieldError
from crm.models import Client, Entity, Event
from crm.models.types import utcnow
from crm.threads import ThreadFact, fold
from crm.vocabulary import KINDS

ORIGIN = "touchline"
TOUCH_KINDS = ("note", "call", "meeting")
TITLE_LENGTH = 120
# A touch logged a little ahead of the server's clock is a clock difference,
# not a touch from the future.
CLOCK_SKEW = timedelta(minutes=5)


class TouchError(FieldError):
    """A touch that cannot be written as given; names the field at fault."""


class UnknownCommitment(LookupError):
    """No commitment with this key for this client."""


def log_touch(
    session: Session,
    client: Client,
    *,
    kind: str,
    text: str,
    actor: str,
    title: str | None = None,
    occurred_at: datetime | None = None,
    now: datetime | None = None,
) -> Event:
    """Log a note, call or meeting on the client's timeline."""
    if kind not in TOUCH_KINDS:
        raise TouchError("kind", f"must be one of {', '.join(TOUCH_KINDS)}, not {kind!r}")
    if not text.strip():
        raise TouchError("text", "is required: say what was said or agreed")
    now = now or utcnow()
    occurred_at = occurred_at or now
    if occurred_at > now + CLOCK_SKEW:
        raise TouchError("occurred_at", "is in the future: log a touch once it has happened")
    event = _event(
        client,
        kind,
        occurred_at,
        title=(title or "").strip() or _first_line(text),
        detail=text.strip(),
        actor=actor,
    )
    session.add(event)
    session.flush()
    audit(session, "touch.log", "client", client.slug, {"kind": kind, "event_id": event.id})
    return event


# The attribute of a commitment's "commitment.made" event that marks it internal.
INTERNAL = "internal"


def make_commitment(
    session: Session,
    client: Client,
    *,
    title: str,
    due_at: datetime,
    actor: str,
    detail: str | None = None,
    internal: bool = False,
    now: datetime | None = None,
) -> Entity:
    """Record a promise to the client, due at `due_at`, on a new thread.
    `internal`: ours alone (a reminder to chase a vendor), left out of what
    the client is shown (the QBR summary, reports.briefing.client_summary)."""
    if not title.strip():
        raise TouchError("title", "is required: say what was promised")
    if due_at.tzinfo is None:
        raise TouchError("due_at", "needs a time zone")
    now = now or utcnow()
    if due_at < now:
        # A promise made today is not due yesterday: a typo in the year or an
        # AM/PM slip, which would show as overdue the moment it is made.
        raise TouchError("due_at", "is before now: a promise cannot be due before it is made")
    key = f"CMT-{uuid.uuid4().hex.upper()}"
    made = _event(
        client,
        "commitment.made",
        now,
        title=title.strip(),
        detail=(detail or "").strip() or None,
        actor=actor,
        thread_key=key,
        # Stored as the pipeline stores state attributes (connectors/writers.py).
        attributes={"due_at": due_at.astimezone(UTC).isoformat(), "assignee": actor}
        | ({INTERNAL: True} if internal else {}),
    )
    session.add(made)
    session.flush()
    audit(session, "commitment.make", "client", client.slug, {"key": key, "internal": internal})
    return refresh_thread(session, client.id, "commitment", key)


def complete_commitment(
    session: Session, client: Client, key: str, *, actor: str, now: datetime | None = None
) -> Entity:
    """Mark a commitment done. Raises UnknownCommitment, or TouchError when
    it is done already."""
    entity = session.scalar(
        select(Entity).where(
            Entity.client_id == client.id, Entity.type == "commitment", Entity.key == key
        )
    )
    if entity is None:
        raise UnknownCommitment(f"{client.slug} has no commitment {key}")
    if not entity.is_open:
        raise TouchError(None, f"commitment {key} is already done")
    # Never before the thread's last event: the fold orders by time, and a
    # "done" stamped earlier than the promise would leave it open.
    when = max(now or utcnow(), entity.last_event_at)
    title = f"Done: {entity.title}"[:500] if entity.title else "Done"
    session.add(_event(client, "commitment.done", when, title=title, actor=actor, thread_key=key))
    session.flush()
    audit(session, "commitment.done", "client", client.slug, {"key": key})
    return refresh_thread(session, client.id, "commitment", key)


def refresh_thread(session: Session, client_id: int, thread_type: str, key: str) -> Entity:
    """Fold the thread's state from all of its stored events into its Entity."""
    facts = [
        ThreadFact.from_stored(*row)
        for row in session.execute(
            select(
                Event.occurred_at,
                Event.kind,
                Event.external_id,
                Event.title,
                Event.amount,
                Event.currency,
                Event.attributes,
            ).where(
                Event.client_id == client_id,
                Event.thread_type == thread_type,
                Event.thread_key == key,
            )
        )
    ]
    state = fold(thread_type, facts)
    entity = session.scalar(
        select(Entity).where(
            Entity.client_id == client_id, Entity.type == thread_type, Entity.key == key
        )
    )
    if entity is None:
        entity = Entity(client_id=client_id, key=key)
        session.add(entity)
    for name, value in state.items():
        setattr(entity, name, value)
    session.flush()
    return entity


def _event(client: Client, kind: str, occurred_at: datetime, **fields) -> Event:
    thread_key = fields.pop("thread_key", None)
    return Event(
        client_id=client.id,
        source=KINDS[kind].source,
        kind=kind,
        origin=ORIGIN,
        external_id=f"{kind}-{uuid.uuid4().hex}",
        occurred_at=occurred_at,
        thread_type=KINDS[kind].thread if thread_key else None,
        thread_key=thread_key,
        attributes=fields.pop("attributes", {}),
        **fields,
    )


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0].strip()
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"
