"""What the Stripe tests share: Stripe's own fixtures, events around them,
and reading back what an ingest made of them."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from crm.models import Entity, Event, InboxRecord
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures/vendors"
# The ids in stripe/openapi's fixtures (current API): the invoice and the
# subscription are the customer's; the dispute and the refund name the charge.
CUSTOMER = "cus_QXg1o8vcGmoR32"
CHARGE = "ch_1PgafuB7WZ01zgkWXYmPNZs8"
INVOICE = "in_1Pgc6tB7WZ01zgkWu9fdqL6I"
DISPUTE = "dp_1Pgc71B7WZ01zgkWMevJiAUx"
REFUND = "re_1Pgc72B7WZ01zgkWqPvrRrPE"
SUBSCRIPTION = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
T0 = 1_790_000_000  # 2026-09-21T14:13:20Z


def vendor(name: str):
    """A file of tests/fixtures/vendors, as Stripe published it."""
    return json.loads((VENDORS / name).read_text())


def fixture(name: str) -> dict:
    return vendor(f"stripe_openapi_fixture_{name}.json")


def obj(name: str, **changes) -> dict:
    return copy.deepcopy(fixture(name)) | changes


def event(event_id: str, type_: str, data_object: dict, created: int = T0, **extra) -> dict:
    """An event of the current shape around `data_object`."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": data_object} | extra,
    }


def ingest(runner, path) -> dict:
    return ingest_file(runner, "stripe", path)


def write(tmp_path: Path, name: str, records) -> Path:
    path = tmp_path / name
    if name.endswith(".ndjson"):
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    else:
        path.write_text(json.dumps(records))
    return path


def inbox(session) -> list[tuple]:
    return session.execute(
        select(
            InboxRecord.locator, InboxRecord.status, InboxRecord.field, InboxRecord.reason
        ).order_by(InboxRecord.id)
    ).all()


def events(session) -> dict[str, tuple]:
    """external id -> (kind, amount, currency, thread key)."""
    rows = session.execute(
        select(Event.external_id, Event.kind, Event.amount, Event.currency, Event.thread_key)
    ).all()
    return {external_id: tuple(rest) for external_id, *rest in rows}


def event_row(session, external_id: str) -> Event:
    return session.scalars(select(Event).where(Event.external_id == external_id)).one()


def entities(session) -> dict[tuple[str, str], tuple]:
    """(type, key) -> (status, amount, currency, due_at, closed_at, event_count)."""
    rows = session.execute(
        select(
            Entity.type,
            Entity.key,
            Entity.status,
            Entity.amount,
            Entity.currency,
            Entity.due_at,
            Entity.closed_at,
            Entity.event_count,
        )
    ).all()
    return {(t, k): tuple(rest) for t, k, *rest in rows}


def opened_closed(session) -> dict[tuple[str, str], tuple]:
    """(type, key) -> (status, opened_at, closed_at)."""
    rows = session.execute(
        select(Entity.type, Entity.key, Entity.status, Entity.opened_at, Entity.closed_at)
    ).all()
    return {(t, k): tuple(rest) for t, k, *rest in rows}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
