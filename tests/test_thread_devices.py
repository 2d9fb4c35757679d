"""A thread knows its device (entities.device): the `instance` its latest
event naming one names, set when the pipeline folds the thread and by
migration 0020's backfill, so that open alerts group by check and device
without reading their events (issue 19)."""

from datetime import datetime

from flask_migrate import upgrade
from sqlalchemy import insert, select

from crm.extensions import db
from crm.models import Entity, Event
from crm.threads import ThreadFact, device_of, fold_state
from tests.factories import make_client
from tests.test_alertmanager import alert, body, ingest, write
from tests.test_data_migrations import _a_client


def _devices(session) -> dict[str, str | None]:
    return dict(session.execute(select(Entity.key, Entity.device)).all())


def test_the_pipeline_sets_each_alerts_device(runner, session, tmp_path):
    make_client("acme", identities=[("alertmanager", "acme")])
    web = alert("firing", customer="acme")
    db_host = alert("firing", "2026-03-02T12:00:00Z", "2026-03-02T11:00:00Z", customer="acme")
    db_host["labels"]["instance"], db_host["fingerprint"] = "db-2:9100", "ffff000011112222"
    nowhere = alert("firing", "2026-03-02T13:00:00Z", "2026-03-02T12:30:00Z", customer="acme")
    nowhere["labels"]["instance"], nowhere["fingerprint"] = "", "0000aaaabbbbcccc"
    assert (
        ingest(runner, write(tmp_path / "f.json", body("firing", [web, db_host, nowhere])))[
            "accepted"
        ]
        == 3
    )
    assert _devices(session) == {
        "a1b2c3d4e5f60718@2026-03-02T10:00:00Z": "web-1:9100",
        "ffff000011112222@2026-03-02T11:00:00Z": "db-2:9100",
        "0000aaaabbbbcccc@2026-03-02T12:30:00Z": None,  # an empty label names no device
    }
    # resolved later: the thread continues from its stored state, device kept
    resolved = alert("resolved", "2026-03-02T10:45:00Z", customer="acme")
    assert ingest(runner, write(tmp_path / "r.json", body("resolved", [resolved])))["accepted"] == 1
    assert _devices(session)["a1b2c3d4e5f60718@2026-03-02T10:00:00Z"] == "web-1:9100"


def test_the_latest_event_naming_a_device_decides_in_any_order():
    def at(hour: int, instance) -> ThreadFact:
        moment = datetime.fromisoformat(f"2026-03-02T{hour:02d}:00:00+00:00")
        return ThreadFact.from_stored(moment, "alert.raised", f"r{hour}", None, None, None,
                                      {"instance": instance})  # fmt: skip

    facts = [at(9, "web-1"), at(10, 9100), at(11, None)]
    assert fold_state("alert", facts).device == "9100"  # a number, as SQL casts it
    assert fold_state("alert", facts[::-1]).device == "9100"
    earlier, later = fold_state("alert", facts[:1]), fold_state("alert", facts[1:])
    assert earlier.then(later).device == "9100"
    assert device_of({}) is None and device_of({"instance": ""}) is None


def test_0020_backfills_the_device_from_the_events(empty_database_app):
    upgrade(revision="0019")
    connection = db.session.connection()
    _a_client(connection)

    def at(hour: int) -> datetime:
        return datetime.fromisoformat(f"2026-03-02T{hour:02d}:00:00+00:00")

    for key, external_id, hour, attributes in (
        ("A1", "a1-raised", 9, {"instance": "web-1:9100"}),
        ("A1", "a1-again", 11, {"instance": "web-2:9100"}),
        ("A1", "a1-note", 12, {}),
        ("A2", "a2-raised", 10, {"alertname": "Disk"}),
    ):
        connection.execute(
            insert(Event.__table__).values(
                client_id=1,
                source="rmm",
                kind="alert.raised",
                origin="test",
                external_id=external_id,
                occurred_at=at(hour),
                title="Down",
                thread_type="alert",
                thread_key=key,
                attributes=attributes,
                received_at=at(hour),
            )
        )
    for key in ("A1", "A2"):
        connection.execute(
            insert(Entity.__table__).values(
                client_id=1,
                type="alert",
                key=key,
                status="firing",
                title="Down",
                opened_at=at(9),
                last_event_at=at(12),
                event_count=1,
            )
        )
    db.session.commit()
    upgrade()
    db.session.remove()
    assert _devices(db.session) == {"A1": "web-2:9100", "A2": None}
