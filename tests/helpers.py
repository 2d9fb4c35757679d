"""What many tests ask of the app: ingest a file, read the inbox and threads."""

import dataclasses
import json
import time
from contextlib import contextmanager

from sqlalchemy import select

from crm.extensions import db
from crm.models import Entity, InboxRecord


def ingest_file(runner, connector: str, path) -> dict:
    """`flask ingest CONNECTOR PATH --json`, which must not fail."""
    result = runner.invoke(args=["ingest", connector, str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def inbox_by_locator(session) -> dict[str, InboxRecord]:
    return {row.locator: row for row in session.scalars(select(InboxRecord))}


def entity_states(session) -> list[tuple]:
    """Every thread's whole derived state, in a stable order, for comparing
    one ingest against another."""
    return session.execute(
        select(
            Entity.type,
            Entity.key,
            Entity.status,
            Entity.title,
            Entity.opened_at,
            Entity.closed_at,
            Entity.due_at,
            Entity.amount,
            Entity.currency,
            Entity.priority,
            Entity.category,
            Entity.assignee,
            Entity.sla_due_at,
            Entity.event_count,
        ).order_by(Entity.client_id, Entity.type, Entity.key)
    ).all()


def rebuilt(session, cached, rebuild) -> list[tuple]:
    """What a cache kept by the writes of events holds (`cached(session)`),
    recomputed from the events alone by its `rebuild(connection)` (rolled back)."""
    kept = cached(session)
    with session.begin_nested() as savepoint:
        rebuild(session.connection())
        fresh = cached(session)
        savepoint.rollback()
    assert cached(session) == kept
    return fresh


@contextmanager
def demo_loaded(database_url: str, directory):
    """An app of its own, in its context, holding the demo portfolio (`flask demo
    load` into `directory`, through the real pipeline); its tables are emptied
    after, as the `app` fixture empties them after each test. For a module's
    fixture: the demo takes seconds to load."""
    from factory import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo", "load", "--dir", str(directory)])
        assert result.exit_code == 0, result.output
        yield app
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        db.engine.dispose()


def wait_for(job_id: int, condition, timeout: float = 30):
    """The job once `condition(job)` holds, looked at every 50 ms (a worker or
    a thread runs it); fails after `timeout` seconds."""
    from crm.jobs.models import Job

    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # end the read, so the worker may write and we see it
        job = db.session.get(Job, job_id)
        if condition(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} is still {job.status} ({job.done})"
        time.sleep(0.05)


def briefing_parts(briefing) -> dict:
    """A briefing as plain data, for comparing the counted briefing with the
    whole one (reports.briefing.build's `whole`): all of it but the events
    behind the health drivers and the aging buckets, which a counted
    briefing takes from the flags it shows rather than from every flag."""
    parts = dataclasses.asdict(briefing)
    for driver in parts["health"]["drivers"]:
        driver.pop("event_ids")
    for bucket in parts["aging"]:
        bucket.pop("event_ids")
    return parts
