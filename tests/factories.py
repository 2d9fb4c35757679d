"""Small factories for test data: clients directly, events through files."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crm.extensions import db
from crm.models import Client, Contact, Identity

_numbers = itertools.count(1)
BASE_TIME = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def make_client(slug: str | None = None, *, identities=(), emails=(), **fields) -> Client:
    number = next(_numbers)
    slug = slug or f"client-{number}"
    client = Client(slug=slug, name=fields.pop("name", slug.replace("-", " ").title()), **fields)
    client.identities = [Identity(system=s, external_key=k) for s, k in identities]
    client.contacts = [Contact(name=e.split("@")[0], email=e) for e in emails]
    db.session.add(client)
    db.session.commit()
    return client


def event(id: str, kind: str, hours: float = 0, **fields) -> dict:
    """A generic-format event record, `hours` after BASE_TIME."""
    when = BASE_TIME + timedelta(hours=hours)
    return {"id": id, "kind": kind, "occurred_at": when.isoformat()} | fields


def ndjson(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


_stored_ids = itertools.count(1)


def stored_event(client: Client, kind: str, at: datetime | float = 0, **fields):
    """Write one event straight to the timeline, as the pipeline would store
    it, and fold its thread's state again (flushed, not committed: requests
    of the test client share the session). `at` is a time or hours after
    BASE_TIME; `thread` is the thread key. State fields (status, due_at,
    assignee, sla_due_at, ...) go in the attributes as the pipeline keeps them."""
    from crm.models import Event
    from crm.threads import STATE_ATTRIBUTES
    from crm.timeline.touches import refresh_thread
    from crm.vocabulary import ENTITY_TYPES, KINDS

    when = at if isinstance(at, datetime) else BASE_TIME + timedelta(hours=at)
    thread = fields.pop("thread", None)
    attributes = dict(fields.pop("attributes", {}))
    for name in STATE_ATTRIBUTES:
        value = fields.pop(name, None)
        if value is not None:
            attributes[name] = value.isoformat() if isinstance(value, datetime) else value
    thread_type = KINDS[kind].thread if thread else None
    event = Event(
        client_id=client.id,
        source=KINDS[kind].source,
        kind=kind,
        origin=fields.pop("origin", "test"),
        external_id=fields.pop("external_id", f"{kind}-{next(_stored_ids)}"),
        occurred_at=when,
        title=fields.pop("title", KINDS[kind].summary),
        thread_type=thread_type,
        thread_key=thread,
        attributes=attributes,
        **fields,
    )
    db.session.add(event)
    db.session.flush()
    if thread_type in ENTITY_TYPES:
        refresh_thread(db.session, client.id, thread_type, thread)
    return event


_frame_event_ids = itertools.count(1)


def events_frame(*events: dict):
    """A briefing's events frame (reports.briefing.frames) from a few dicts:
    `kind` and `occurred_at` are required; `source` and, given a
    `thread_key`, `thread_type` follow from the kind; ids are made up."""
    from crm.vocabulary import KINDS
    from reports.briefing.frames import EVENT_COLUMNS, event_frame

    rows = []
    for fields in events:
        kind = KINDS[fields["kind"]]
        values = {
            "id": next(_frame_event_ids),
            "source": kind.source,
            "title": kind.summary,
            "thread_type": kind.thread if fields.get("thread_key") else None,
        } | fields
        rows.append(tuple(values.get(column) for column in EVENT_COLUMNS))
    return event_frame(rows)


def entities_frame(*entities: dict):
    """A briefing's entities (thread states) frame from a few dicts with at
    least `type`, `key` and `opened_at`; `status` defaults to open."""
    from reports.briefing.frames import ENTITY_COLUMNS, entity_frame

    rows = [
        tuple(({"status": "open"} | fields).get(column) for column in ENTITY_COLUMNS)
        for fields in entities
    ]
    return entity_frame(rows)
