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
