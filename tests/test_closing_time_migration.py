"""Migration 0008 gives stored threads the closing time the fold now gives:
when they became closed, not the time of a later closed status."""

from datetime import datetime

from flask_migrate import upgrade
from sqlalchemy import insert, select

from crm.extensions import db
from crm.models import Entity, Event


def test_0008_closes_a_thread_when_it_became_closed(empty_database_app):
    upgrade(revision="0007")
    connection = db.session.connection()
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
