"""What a briefing reads from the database: the chart months the database counts must
be the months the events fall in, in the client's calendar, on both engines."""

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg.sql
import pytest
from sqlalchemy import event, select

from crm.models import Entity
from reports.briefing.build import briefing_window, build_briefing, meeting_period
from reports.briefing.frames import load_frames
from reports.briefing.numbers import monthly_activity, monthly_tickets
from tests.factories import make_client, stored_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("zone_name", ["America/New_York", "Asia/Tokyo"])
def test_the_chart_counts_match_the_months_of_the_events(session, zone_name):
    zone = ZoneInfo(zone_name)
    client = make_client("acme", timezone=zone_name)
    local = datetime(2026, 11, 1, tzinfo=zone)  # New York leaves summer time that night
    moments = [
        local - timedelta(minutes=1),  # still October for the client
        local,  # the first moment of November
        local + timedelta(hours=3),
        datetime(2026, 1, 1, tzinfo=zone) - timedelta(seconds=1),  # December 2025
        datetime(2025, 12, 1, tzinfo=zone),  # the charts' first moment
        datetime(2025, 12, 1, tzinfo=zone) - timedelta(seconds=1),  # before the charts
        NOW - timedelta(hours=1),
        NOW,  # the briefing's moment itself counts
    ]
    kinds = ("ticket.opened", "ticket.resolved", "note", "alert.raised", "invoice.issued")
    for number, moment in enumerate(moments):
        kind = kinds[number % len(kinds)]
        thread = f"T{number}" if kind.startswith(("ticket", "alert", "invoice")) else None
        stored_event(client, kind, moment, thread=thread)
    for day in range(0, 330, 7):  # and a year of ordinary days
        stored_event(client, kinds[day % len(kinds)], NOW - timedelta(days=day, hours=5))

    briefing = build_briefing(session, client, now=NOW)
    # Every event of the chart months, as the frames held them before the database counted.
    window = briefing_window(meeting_period(session, client, None, NOW), zone)
    events = load_frames(
        session, client.id, dataclasses.replace(window, previous_start=window.chart_months[0])
    ).events

    activity = briefing.numbers.activity
    assert activity == monthly_activity(events, NOW, zone)
    assert briefing.numbers.ticket_trend == monthly_tickets(events, NOW, zone)
    assert sum(month.total for month in activity) == len(moments) - 1 + 48
    assert [month.month.isoformat() for month in (activity[0], activity[-1])] == [
        "2025-12-01",
        "2026-11-01",
    ]
    assert activity[-2].total >= 1 and activity[0].total >= 2  # the moments before midnight


def test_a_thread_open_since_before_the_window_brings_all_of_its_events(session):
    client = make_client("acme", timezone="UTC")
    long_ago = NOW - timedelta(days=400)
    stored_event(client, "ticket.opened", long_ago, thread="OLD-OPEN")
    stored_event(client, "ticket.updated", long_ago + timedelta(days=200), thread="OLD-OPEN")
    stored_event(client, "ticket.opened", long_ago, thread="OLD-SOLVED")
    stored_event(client, "ticket.resolved", long_ago + timedelta(days=1), thread="OLD-SOLVED")
    stored_event(client, "ticket.opened", NOW - timedelta(days=3), thread="NEW")

    window = briefing_window(meeting_period(session, client, None, NOW), ZoneInfo("UTC"))
    events = load_frames(session, client.id, window).events

    assert list(zip(events["thread_key"], events["kind"], strict=True)) == [
        ("OLD-OPEN", "ticket.opened"),
        ("OLD-OPEN", "ticket.updated"),
        ("NEW", "ticket.opened"),
    ]


def test_the_last_meeting_is_found_by_an_index_of_meetings(session):
    """Also as PostgreSQL plans a statement it has prepared for any values
    (psycopg prepares what runs often): with the kind as a parameter, that
    plan walked the timeline back to the meeting instead."""
    client = make_client("acme")
    for hours in range(300):  # a client busy enough that the index matters
        stored_event(client, "note", NOW - timedelta(hours=hours))
    stored_event(client, "meeting", NOW - timedelta(days=20))
    session.commit()
    statements = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2:4])  # noqa: E731 - (statement, parameters)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        meeting_period(session, client, None, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    [(sql, parameters)] = [found for found in statements if "FROM events" in found[0]]
    connection = session.connection()
    connection.exec_driver_sql("ANALYZE")
    if engine.dialect.name == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
    else:
        cursor = connection.connection.cursor()
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(sql, parameters, prepare=True)
        [name] = cursor.execute(
            "SELECT name FROM pg_prepared_statements WHERE statement = %s",
            (re.sub(r"%\((\w+)\)s", lambda m: f"${_number(sql, m.group(1))}", sql),),
        ).fetchone()
        # EXPLAIN takes no parameters: the values go in as literals.
        values = psycopg.sql.SQL(", ").join(psycopg.sql.Literal(parameters[n]) for n in _names(sql))
        plan = cursor.execute(f"EXPLAIN EXECUTE {name}({values.as_string(cursor)})").fetchall()
        cursor.execute("RESET plan_cache_mode")
    # The meetings' own index, or a client's events by kind (0015): either
    # goes straight to the meeting; the timeline index alone would walk back.
    used = " ".join(str(row) for row in plan)
    assert "ix_events_client_meetings" in used or "ix_events_client_kind" in used, used


def _names(sql: str) -> list[str]:
    """psycopg's parameters in the order it numbers them ($1, $2, ...)."""
    return list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))


def _number(sql: str, name: str) -> int:
    return _names(sql).index(name) + 1


def _prepared_reads_of(session, table: str) -> int:
    """How many statements reading `table` this PostgreSQL session has prepared."""
    return (
        session.connection()
        .exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            (f"%FROM {table} %",),
        )
        .scalar_one()
    )


def test_a_briefings_reads_are_planned_for_their_client_every_time(session):
    """A briefing reads as much as a busy client holds; a plan PostgreSQL
    cached for any client (psycopg prepares what runs five times) cost a
    busy one's threads twice their own plan. A statement run as often
    elsewhere is prepared."""
    client = make_client("acme", timezone="UTC")
    stored_event(client, "ticket.opened", NOW - timedelta(days=3), thread="T1")
    window = briefing_window(meeting_period(session, client, None, NOW), ZoneInfo("UTC"))
    for _ in range(8):
        frames = load_frames(session, client.id, window)
    assert list(frames.entities["key"]) == ["T1"]
    if session.get_bind().dialect.name != "postgresql":
        return
    assert _prepared_reads_of(session, "entities") == 0
    statement = select(Entity.key).where(Entity.client_id == client.id)
    for _ in range(8):
        session.execute(statement)
    assert _prepared_reads_of(session, "entities") == 1
