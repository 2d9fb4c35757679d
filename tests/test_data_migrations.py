"""Data migrations 0008 and 0009 bring stored rows to what the code now writes:
threads closed when they became closed, generic alerts named as the flags read them."""

from datetime import datetime

from flask_migrate import upgrade
from sqlalchemy import insert, select

from crm.extensions import db
from crm.models import Entity, Event


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
