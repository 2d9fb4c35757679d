"""Data migrations bring stored rows to what the code now writes: threads
closed when they became closed, generic alerts named as the flags read them,
Stripe's steps keyed by their object (0008-0010), devices on threads (0020),
subscriptions priced (0022), payloads' bytes in parts (0023)."""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import column, insert, select, table

from connectors import registry
from connectors.pipeline import Pipeline, core
from connectors.pipeline.runs import payload_content
from crm.extensions import db
from crm.models import DayCount, Entity, Event, Identity, RawPayload
from crm.models.types import UTCDateTime


def _a_client(connection) -> None:
    connection.execute(
        insert(db.metadata.tables["clients"]).values(
            id=1,
            slug="acme",
            name="Acme",
            tier="standard",
            status="active",
            timezone="UTC",
            created_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
        )
    )


def test_0008_closes_a_thread_when_it_became_closed(empty_database_app):
    upgrade(revision="0007")
    connection = db.session.connection()
    _a_client(connection)

    def at(day: int) -> datetime:
        return datetime.fromisoformat(f"2026-03-{day:02d}T09:00:00+00:00")

    for external_id, kind, day in (("o", "ticket.opened", 1), ("s", "ticket.resolved", 2),
                                   ("c", "ticket.resolved", 6)):  # fmt: skip
        connection.execute(
            insert(Event.__table__).values(
                client_id=1,
                source="tickets",
                kind=kind,
                origin="zendesk",
                external_id=external_id,
                occurred_at=at(day),
                title="Printer offline",
                thread_type="ticket",
                thread_key="T1",
                attributes={},
                received_at=at(day),
            )
        )
    connection.execute(
        insert(Entity.__table__).values(
            client_id=1,
            type="ticket",
            key="T1",
            status="resolved",
            title="Printer offline",
            opened_at=at(1),
            closed_at=at(6),
            last_event_at=at(6),
            event_count=3,
        )
    )
    db.session.commit()
    upgrade()
    closed = db.session.scalar(select(Entity.closed_at).where(Entity.key == "T1"))
    assert closed == at(2)


def test_0009_reads_a_generic_alerts_severity_as_its_priority(empty_database_app):
    """An alert of the generic rmm format stored before 0009, critical by its
    `severity` attribute, is critical by its priority after it, as the same
    record ingested now is; its device and category name it for recurrence."""
    upgrade(revision="0008")
    connection = db.session.connection()
    _a_client(connection)
    raised = datetime.fromisoformat("2026-03-01T09:00:00+00:00")
    attributes = {"severity": "critical", "device": "HD-FS01"}
    connection.execute(
        insert(Event.__table__).values(
            client_id=1,
            source="rmm",
            kind="alert.raised",
            origin="ninja",
            external_id="a1",
            occurred_at=raised,
            title="RAID degraded",
            thread_type="alert",
            thread_key="FS01/raid",
            attributes=attributes | {"category": "raid"},
            received_at=raised,
        )
    )
    connection.execute(
        insert(Entity.__table__).values(
            client_id=1,
            type="alert",
            key="FS01/raid",
            status="firing",
            title="RAID degraded",
            opened_at=raised,
            last_event_at=raised,
            event_count=1,
            category="raid",
        )
    )
    db.session.commit()
    upgrade()
    assert db.session.scalar(select(Entity.priority)) == "critical"
    stored = db.session.scalar(select(Event.attributes))
    assert (stored["priority"], stored["instance"], stored["alertname"]) == (
        "critical",
        "HD-FS01",
        "raid",
    )


def test_0010_keys_a_stored_stripe_step_by_its_object(empty_database_app, tmp_path):
    """A finalized invoice stored from a webhook before 0010 (keyed by its
    event's id), and another stored twice (webhook and export): after it,
    each step is one event under the object's key, and a later paid event,
    which implies the issue, adds the payment alone."""
    upgrade(revision="0009")
    connection = db.session.connection()
    _a_client(connection)
    issued = datetime.fromisoformat("2026-09-21T14:13:20+00:00")

    def stored(external_id: str, invoice: str) -> None:
        connection.execute(
            insert(Event.__table__).values(
                client_id=1,
                source="billing",
                kind="invoice.issued",
                origin="stripe",
                external_id=external_id,
                occurred_at=issued,
                title=f"Invoice {invoice} finalized",
                thread_type="invoice",
                thread_key=invoice,
                received_at=issued,
                attributes={
                    "stripe_type": "invoice.finalized",
                    "stripe_id": invoice,
                    "status": "open",
                },
            )
        )

    fixture = Path(__file__).parent / "fixtures/vendors/stripe_openapi_fixture_invoice.json"
    invoice = json.loads(fixture.read_text())
    stored("evt_1", invoice["id"])
    stored("evt_2", "in_twice")
    stored("in_twice:issued", "in_twice")
    for key, count in ((invoice["id"], 1), ("in_twice", 2)):
        connection.execute(
            insert(Entity.__table__).values(
                client_id=1,
                type="invoice",
                key=key,
                status="open",
                opened_at=issued,
                last_event_at=issued,
                event_count=count,
            )
        )
    db.session.commit()
    upgrade()

    keys = set(db.session.scalars(select(Event.external_id)))
    assert keys == {f"{invoice['id']}:issued", "in_twice:issued"}
    twice = db.session.scalar(select(Entity).where(Entity.key == "in_twice"))
    assert twice.event_count == 1

    db.session.add(Identity(system="stripe", external_key=invoice["customer"], client_id=1))
    db.session.commit()
    paid = {
        "id": "evt_paid",
        "object": "event",
        "type": "invoice.paid",
        "created": int(issued.timestamp()) + 3600,
        "data": {"object": invoice | {"status": "paid"}},
    }
    with Pipeline(db.session) as pipeline:
        pipeline.ingest(registry.get("stripe"), json.dumps(paid).encode(), "paid.json", "test")
    kinds = db.session.scalars(
        select(Event.kind).where(Event.thread_key == invoice["id"]).order_by(Event.occurred_at)
    ).all()
    assert kinds == ["invoice.issued", "payment.received"]


# raw_payloads as 0022 left it, its bytes in one column
AS_OF_0022 = table(
    "raw_payloads",
    *map(column, ("id", "connector", "filename", "media_type", "sha256", "size", "content")),
    column("received_at", UTCDateTime),
)


@pytest.fixture
def payloads_stored_as_before_0023(monkeypatch):
    """The pipeline storing a payload's bytes as revisions before 0023 did, in
    raw_payloads.content, for tests that ingest into an older schema."""

    def store(session, connector, content, filename):
        values = {
            "connector": connector.name,
            "filename": filename,
            "media_type": "json",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "content": content,
            "received_at": datetime.now(UTC),
        }
        inserted = insert(AS_OF_0022).values(values).returning(AS_OF_0022.c.id)
        payload_id = session.execute(inserted).scalar_one()
        session.commit()
        return session.get(RawPayload, payload_id)

    monkeypatch.setattr(core, "store_payload", store)


def test_0022_prices_stripe_subscription_events_stored_before_mrr(
    empty_database_app, payloads_stored_as_before_0023
):
    """Subscription events stored without `monthly_amount` (before MRR), or
    with one that ignored a discount known only by id, are priced from the
    payload they were read from, as the connector prices them now."""
    upgrade(revision="0021")
    _a_client(db.session.connection())
    db.session.commit()
    fixture = Path(__file__).parent / "fixtures/vendors/stripe_openapi_fixture_subscription.json"
    subscription = json.loads(fixture.read_text())
    db.session.add(Identity(system="stripe", external_key=subscription["customer"], client_id=1))
    db.session.commit()
    discounted = subscription | {"id": "sub_discounted", "discounts": ["di_1"]}
    body = json.dumps([subscription, discounted]).encode()
    # Today's pipeline keeps the day counts, a table 0027 makes (and fills).
    day_counts = DayCount.__table__
    day_counts.create(db.session.connection())
    with Pipeline(db.session) as pipeline:
        pipeline.ingest(registry.get("stripe"), body, "subscriptions.json", "test")
    day_counts.drop(db.session.connection())
    price = ("monthly_amount", "list_monthly_amount", "discount_not_known")
    for event in db.session.scalars(select(Event).where(Event.origin == "stripe")):
        old = {k: v for k, v in event.attributes.items() if k not in price}  # as stored then
        if event.thread_key == "sub_discounted":
            old["monthly_amount"] = "40.00"  # its list price: the discount ignored
        event.attributes = old
    db.session.commit()
    upgrade()
    db.session.expire_all()
    stored = {
        event.thread_key: event.attributes
        for event in db.session.scalars(select(Event).where(Event.origin == "stripe"))
    }
    assert stored[subscription["id"]]["monthly_amount"] == "20.00"
    assert "monthly_amount" not in stored["sub_discounted"]
    assert stored["sub_discounted"]["discount_not_known"] == ["di_1"]
    assert stored["sub_discounted"]["list_monthly_amount"] == "20.00"


def test_0023_moves_each_stored_payload_into_its_first_part(empty_database_app):
    upgrade(revision="0022")
    connection = db.session.connection()
    body = b'{"id": "evt_1"}' * 1000
    connection.execute(
        insert(AS_OF_0022).values(
            id=7,
            connector="stripe",
            filename="body.json",
            media_type="json",
            sha256="0" * 64,
            size=len(body),
            content=body,
            received_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
        )
    )
    db.session.commit()

    upgrade()

    assert payload_content(db.session, 7) == body
    assert db.session.get(RawPayload, 7).size == len(body)
