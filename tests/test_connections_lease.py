"""One sync of a connection at a time: a second sync (cron's `flask sync` beside
a worker's job, two admins' "sync now") is refused while the first holds the
connection's lease, and a lease left by a killed process goes stale."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.connections import sync as sync_module
from connectors.connections.models import Connection
from connectors.connections.sync import SyncBusy, due, sync
from crm.extensions import db
from crm.models import IngestRun
from crm.models.types import utcnow
from tests import vendor_apis as api
from tests.factories import make_client
from tests.test_connections_sync import waits, zendesk  # noqa: F401 (a fixture)

# The credentials' key set, and the transport's waits recorded, not spent.
pytestmark = pytest.mark.usefixtures("waits")


def runs(session) -> int:
    return session.scalar(select(func.count()).select_from(IngestRun))


def test_a_sync_asked_for_while_one_runs_is_refused_and_changes_nothing(session):
    make_client("acme", identities=[("zendesk", str(api.ORGANIZATION))])
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    refused: list[str] = []

    def second_sync(done: int) -> None:
        # Between two of the first sync's pages, another process asks.
        if refused:
            return
        with Session(db.engine) as other:
            with pytest.raises(SyncBusy) as busy:
                sync(other, other.get(Connection, connection.id), "second")
            refused.append(str(busy.value))
            assert runs(other) == 1  # the second started no run

    with api.replayed() as mock:
        api.add_zendesk(mock, api.cursor_pages(tickets, "tickets", [50, 50], "t"))
        run = sync(session, connection, "first", on_progress=second_sync)
    assert refused == [refused[0]] and "zendesk is already syncing since" in refused[0]
    assert run.status == "finished" and run.error is None
    assert (connection.failures, connection.sync_lease_at) == (0, None)
    assert connection.cursors()["tickets"] == {"cursor": "t2"}


def test_a_lease_whose_holder_stopped_renewing_it_is_taken_over(app, session):
    connection = zendesk(session)
    connection.sync_lease_at = utcnow() - timedelta(
        seconds=app.config.get("HEARTBEAT_STALE_SECONDS", 600) + 60
    )
    session.commit()
    assert due(session) == [connection]
    with api.replayed() as mock:
        api.add_zendesk(mock, api.cursor_pages([], "tickets", [0], "t"))
        run = sync(session, connection, "test")
    assert run.status == "finished"
    assert connection.sync_lease_at is None


def test_a_failed_sync_gives_the_lease_back(session):
    connection = zendesk(session)
    with api.replayed() as mock:
        mock.get(f"{api.ZENDESK}/api/v2/incremental/organizations.json", status=401, json={})
        assert sync(session, connection, "test").status == "failed"
    assert connection.sync_lease_at is None


def test_cron_and_the_command_line_leave_a_connection_another_sync_holds(session, runner):
    connection = zendesk(session)
    connection.sync_lease_at = utcnow()
    session.commit()
    assert due(session) == []  # the schedule does not queue it

    result = runner.invoke(args=["sync", "zendesk"])
    assert result.exit_code == 1
    assert "zendesk is already syncing since" in result.output
    assert runs(session) == 0
    assert connection.failures == 0 and connection.status == "active"


def test_of_two_syncs_racing_for_the_lease_exactly_one_takes_it(app, session):
    connection_id = zendesk(session).id
    start, outcomes = threading.Barrier(2), []

    def race() -> None:
        with app.app_context():
            try:
                connection = db.session.get(Connection, connection_id)
                start.wait(10)
                sync_module._take_lease(db.session, connection)
                outcomes.append("took")
            except SyncBusy:
                outcomes.append("refused")
            finally:
                db.session.remove()

    racers = [threading.Thread(target=race) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert sorted(outcomes) == ["refused", "took"]
