"""Migration 0007 moves Alertmanager alerts stored the old way (one thread per
fingerprint, no raise for an alert first received resolved) to what the
connector writes now: a thread per occurrence, each with its raise. Checked
against the connector itself: after the migration, the same alerts
delivered again add nothing and change no thread."""

import json
from datetime import datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, select, text

from crm.entities import EVENT_FACT
from crm.extensions import db
from crm.models import Entity, Event
from crm.threads import ThreadFact, fold
from tests.helpers import entity_states, ingest_file

FINGERPRINT, OTHER = "a1b2c3d4e5f60718", "0f1e2d3c4b5a6978"
LABELS = {"alertname": "HostDown", "instance": "web-1:9100", "severity": "critical"}
# (fingerprint, startsAt, status, endsAt): what Alertmanager delivered.
DELIVERED = [
    (FINGERPRINT, "2026-03-02T10:00:00Z", "firing", None),
    (FINGERPRINT, "2026-03-02T10:00:00Z", "resolved", "2026-03-02T10:45:00Z"),
    (FINGERPRINT, "2026-03-05T08:00:00Z", "resolved", "2026-03-05T09:00:00Z"),  # never seen firing
    (FINGERPRINT, "2026-03-09T22:30:00Z", "firing", None),  # firing still
    (OTHER, "2026-03-04T12:00:00Z", "resolved", "2026-03-04T12:05:00Z"),
]


def old_event(client_id: int, fingerprint: str, starts: str, status: str, ends: str | None):
    """The events row the connector wrote before 0007: threaded by fingerprint."""
    return {
        "client_id": client_id,
        "source": "rmm",
        "kind": "alert.raised" if status == "firing" else "alert.resolved",
        "origin": "alertmanager",
        "external_id": f"{fingerprint}:{starts}:{status}",
        "occurred_at": datetime.fromisoformat(ends or starts),
        "title": "web-1 is down",
        "detail": "No scrape for 5 minutes",
        "thread_type": "alert",
        "thread_key": fingerprint,
        "url": "http://prometheus:9090/graph",
        "attributes": {
            "alertname": "HostDown",
            "instance": "web-1:9100",
            "severity": "critical",
            "labels": LABELS | {"customer": "acme"},
            "starts_at": starts,
            "receiver": "touchline",
            "status": status,
            "priority": "critical",
            "category": "HostDown",
        },
        "received_at": datetime.fromisoformat(ends or starts),
    }


def delivered_body(fingerprint: str, starts: str, status: str, ends: str | None) -> dict:
    return {
        "receiver": "touchline",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": LABELS | {"customer": "acme"},
                "annotations": {
                    "summary": "web-1 is down",
                    "description": "No scrape for 5 minutes",
                },
                "startsAt": starts,
                "endsAt": ends or "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


def threads(session) -> dict[str, tuple]:
    rows = session.execute(select(Entity.key, Entity.status, Entity.event_count)).all()
    return {key: (status, count) for key, status, count in rows}


def fold_before_0020(session, client_id: int, key: str) -> None:
    """The alert thread's row as the pipeline folded it then: 0020 adds `device`."""
    stored = session.execute(
        select(*(Event.__table__.c[name] for name in EVENT_FACT)).where(
            Event.client_id == client_id, Event.thread_key == key
        )
    )
    state = fold("alert", [ThreadFact.from_stored(*row) for row in stored])
    del state["device"]
    session.execute(insert(Entity.__table__).values(client_id=client_id, key=key, **state))


def test_0007_threads_stored_alerts_by_occurrence(empty_database_app, tmp_path):
    upgrade(revision="0006")
    session = db.session
    session.execute(
        text(
            "INSERT INTO clients (slug, name, tier, timezone, status, created_at) "
            "VALUES ('acme', 'Acme', 'key', 'UTC', 'active', CURRENT_TIMESTAMP)"
        )
    )
    client_id = session.scalar(text("SELECT id FROM clients"))
    session.execute(
        text(
            "INSERT INTO identities (system, external_key, client_id, created_at) "
            "VALUES ('alertmanager', 'acme', :client, CURRENT_TIMESTAMP)"
        ),
        {"client": client_id},
    )
    session.execute(insert(Event), [old_event(client_id, *alert) for alert in DELIVERED])
    for key in (FINGERPRINT, OTHER):
        fold_before_0020(session, client_id, key)
    session.commit()
    assert threads(session) == {FINGERPRINT: ("firing", 4), OTHER: ("resolved", 1)}
    session.rollback()  # the read ends: a later revision's ALTER TABLE waits for none

    upgrade()
    session.remove()
    assert threads(session) == {
        f"{FINGERPRINT}@2026-03-02T10:00:00Z": ("resolved", 2),
        f"{FINGERPRINT}@2026-03-05T08:00:00Z": ("resolved", 2),
        f"{FINGERPRINT}@2026-03-09T22:30:00Z": ("firing", 1),
        f"{OTHER}@2026-03-04T12:00:00Z": ("resolved", 2),
    }
    implied = session.scalars(
        select(Event).where(Event.external_id == f"{FINGERPRINT}:2026-03-05T08:00:00Z:firing")
    ).one()
    assert (implied.kind, implied.occurred_at.isoformat()) == (
        "alert.raised",
        "2026-03-05T08:00:00+00:00",
    )
    assert implied.attributes["implied_by"] == f"{FINGERPRINT}:2026-03-05T08:00:00Z:resolved"
    assert (implied.attributes["instance"], implied.attributes["alertname"]) == (
        "web-1:9100",
        "HostDown",
    )
    migrated = entity_states(session)

    # The connector, given the same alerts, finds everything already there.
    for number, alert in enumerate(DELIVERED):
        path = tmp_path / f"delivery-{number}.json"
        path.write_text(json.dumps(delivered_body(*alert)))
        summary = ingest_file(empty_database_app.test_cli_runner(), "alertmanager", path)
        assert (summary["total"], summary["duplicate"]) == (1, 1), summary
    assert entity_states(session) == migrated

    # The migration's DDL runs on a connection of its own; a transaction left
    # open here would hold the locks it waits for (on PostgreSQL, for ever).
    session.remove()
    downgrade(revision="0006")
    session.remove()
    # Back to a thread per fingerprint; the raises implied are kept.
    assert threads(session) == {FINGERPRINT: ("firing", 5), OTHER: ("resolved", 2)}
    assert "devices" not in db.inspect(db.engine).get_table_names()
