"""crm.database's bulk statements store and read back exactly what Core does."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from crm.database import (
    _lookup_statement,
    insert_ignoring_conflicts,
    insert_new,
    rows_with_keys,
    upsert,
)
from crm.models import Entity, Event
from tests.factories import make_client

KEY = ("origin", "external_id")


def _event(client_id: int, external_id: str) -> dict:
    return {
        "client_id": client_id,
        "source": "billing",
        "kind": "invoice.issued",
        "origin": "billing",
        "external_id": external_id,
        "occurred_at": datetime(2026, 10, 1, 11, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        "title": "Invoice",
        "detail": None,
        "amount": Decimal("12.3400"),
        "currency": "EUR",
        "thread_type": "invoice",
        "thread_key": "INV-1",
        "actor": None,
        "url": None,
        "attributes": {"due_at": "2026-11-01T00:00:00+00:00", "rate": Decimal("1.5")},
        "payload_id": None,
        "received_at": datetime(2026, 10, 1, tzinfo=UTC),
    }


def _stored(session) -> dict[str, dict]:
    """Every event as the database holds it, before any type conversion."""
    rows = session.connection().exec_driver_sql("SELECT * FROM events").mappings()
    return {row["external_id"]: dict(row) for row in rows}


def test_bulk_insert_stores_what_core_stores_and_skips_conflicts(session):
    client = make_client()
    session.execute(insert(Event), [_event(client.id, "core")])
    row = _event(client.id, "bulk")
    columns = list(row)

    assert insert_ignoring_conflicts(session, Event.__table__, columns, [row.values()], KEY) == 1
    assert insert_ignoring_conflicts(session, Event.__table__, columns, [row.values()], KEY) == 0

    stored = _stored(session)
    assert len(stored) == 2
    ignored = {"id", "external_id"}
    core = {name: value for name, value in stored["core"].items() if name not in ignored}
    bulk = {name: value for name, value in stored["bulk"].items() if name not in ignored}
    assert bulk == core


def _columns(rows: list[dict], leave_out: tuple[str, ...] = ()) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name in rows[0] if name not in leave_out}


def test_insert_new_answers_which_rows_went_in_and_stores_what_core_stores(session):
    client = make_client()
    session.execute(insert(Event), [_event(client.id, "core")])
    rows = [_event(client.id, key) for key in ("new-1", "core", "new-2")]

    # Without the columns that may be left to their defaults first, then
    # again in the same transaction with all of them: only the rows not
    # there yet go in.
    assert insert_new(session, Event.__table__, _columns(rows, ("detail", "url")), KEY) == [0, 2]
    more = [_event(client.id, key) for key in ("new-2", "new-3")]
    assert insert_new(session, Event.__table__, _columns(more), KEY) == [1]

    stored = _stored(session)
    assert sorted(stored) == ["core", "new-1", "new-2", "new-3"]
    ignored = {"id", "external_id"}
    core = {name: value for name, value in stored["core"].items() if name not in ignored}
    for key in ("new-1", "new-3"):
        assert {name: value for name, value in stored[key].items() if name not in ignored} == core


def test_insert_new_works_again_after_a_rollback(session):
    client = make_client()
    session.commit()
    rows = [_event(client.id, "first")]
    assert insert_new(session, Event.__table__, _columns(rows), KEY) == [0]
    session.rollback()
    assert insert_new(session, Event.__table__, _columns(rows), KEY) == [0]
    session.commit()
    assert list(_stored(session)) == ["first"]


def test_lookup_by_keys_reads_values_as_a_select_does(session):
    client = make_client()
    session.execute(insert(Event), [_event(client.id, f"e{n}") for n in range(3)])
    columns = ("external_id", "occurred_at", "amount", "attributes")
    wanted = [("billing", "e0"), ("billing", "e2"), ("billing", "absent"), ("other", "e1")]

    found = rows_with_keys(session, Event.__table__, columns, KEY, wanted)

    expected = session.execute(
        select(Event.external_id, Event.occurred_at, Event.amount, Event.attributes).where(
            Event.external_id.in_(["e0", "e2"])
        )
    ).all()
    assert sorted(found, key=lambda row: row[0]) == [tuple(row) for row in expected]
    assert found[0][1].tzinfo is not None and isinstance(found[0][2], Decimal)


def test_upsert_updates_the_other_columns(session):
    client = make_client()
    when = datetime(2026, 10, 1, tzinfo=UTC)
    columns = ("client_id", "type", "key", "status", "opened_at", "last_event_at", "event_count")
    keys = ("client_id", "type", "key")
    upsert(
        session,
        Entity.__table__,
        columns,
        [(client.id, "ticket", "T1", "open", when, when, 1)],
        keys,
    )
    later = when + timedelta(hours=3)
    upsert(
        session,
        Entity.__table__,
        columns,
        [(client.id, "ticket", "T1", "resolved", when, later, 2)],
        keys,
    )
    entity = session.scalars(select(Entity)).one()
    assert (entity.status, entity.last_event_at, entity.event_count) == ("resolved", later, 2)


def test_sqlite_probes_the_index_for_each_key(session):
    """Row-value IN lists made SQLite scan the whole index per statement."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("a SQLite query plan")
    sql = _lookup_statement(connection.dialect, Event.__table__, KEY, KEY, 2)
    plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("a", "b", "c", "d")).all()
    details = [row[-1] for row in plan]
    assert any(detail.startswith("SEARCH t USING") for detail in details), details
    assert not any(detail.startswith("SCAN t") for detail in details), details


def test_datetime_text_for_sqlite_is_what_sqlalchemy_stores():
    """The bulk writes' own formatting (crm.models.types) against SQLAlchemy's
    SQLite DATETIME over a spread of instants, zones and microseconds."""
    import random

    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    from crm.models.types import UTCDateTime

    dialect = sqlite.dialect()
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    ours = UTCDateTime().bulk_bind_processor(dialect)
    rng = random.Random(7)
    start = datetime(1, 1, 2, tzinfo=UTC)
    for _ in range(5000):
        instant = start + timedelta(microseconds=rng.randrange(0, 3 * 10**17))
        if rng.random() < 0.5:
            instant = instant.replace(microsecond=0)
        zone = timezone(timedelta(minutes=rng.randrange(-12 * 60, 14 * 60, 15)))
        shown = instant.astimezone(zone) if 2 <= instant.year <= 9998 else instant
        assert ours(shown) == theirs(instant.replace(tzinfo=None)), instant
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))
