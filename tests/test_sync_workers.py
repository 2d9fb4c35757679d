"""A sync whose pages worker processes read while it fetches
(connectors/connections/page_lines.py): whatever fails where, the pages
written are the first ones and the cursor is the last written page's, so
the next sync writes nothing twice and skips nothing; and no worker is left
behind. (The ordinary paths run with workers in test_connections_sync.py.)
"""

import multiprocessing
import os
import re

import pytest

from connectors.connections import transport
from connectors.connections.sync import sync
from connectors.parallel import ParallelIngestFailed
from connectors.pipeline import pages as page_module
from crm.models import IngestRun
from tests import vendor_apis as api
from tests.factories import make_client
from tests.test_connections_sync import assert_each_ticket_once, tickets_stored, waits, zendesk

__all__ = ["waits"]  # the fixture, shared

SIZES = [30, 30, 40]


def fails_on_ticket_page(number: int, failure):
    """A `write` that does `failure()` on the `number`th ticket page a worker
    writes, after writing its rows (in its transaction, not committed)."""
    real_write = page_module.write

    def write(batch, writers):
        real_write(batch, writers)
        if any(record.locator.startswith("tickets") for record in batch.records):
            ticket = int(batch.records[0].data["id"])
            if ticket == FIRST_TICKETS[number - 1]:
                failure()

    return write


def _first_tickets() -> list[int]:
    tickets, first, start = api.zendesk_tickets(), [], 0
    for size in SIZES:
        first.append(int(tickets[start]["id"]))
        start += size
    return first


FIRST_TICKETS = _first_tickets()


def resumed(session, connection, pages, after: str):
    """The next sync, from the cursor the failed one left; its run."""
    with api.replayed() as mock:
        api.add_zendesk(mock, pages[int(after[1:]) :], ticket_cursor_start=after)
        run = sync(session, connection, "test", processes=2)
    assert run.status == "finished", run.error
    return run


@pytest.fixture
def acme(session):
    make_client("acme", identities=[("zendesk", str(api.ORGANIZATION))])


def _disk_full():
    raise RuntimeError("the disk is full")


@pytest.mark.parametrize(
    ("failure", "raised", "said"),
    [
        (_disk_full, RuntimeError, "the disk is full"),  # the page fails
        (lambda: os._exit(9), ParallelIngestFailed, "stopped (exit code 9)"),  # its worker dies
    ],
    ids=["page-fails", "worker-killed"],
)
def test_a_page_that_fails_stops_the_pages_after_it_and_the_next_sync_resumes(
    session, waits, monkeypatch, acme, failure, raised, said
):
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    pages = api.cursor_pages(tickets, "tickets", SIZES, "t")
    real_write = page_module.write
    monkeypatch.setattr(page_module, "write", fails_on_ticket_page(2, failure))
    with api.replayed() as mock:
        api.add_zendesk(mock, pages)
        with pytest.raises(raised, match=re.escape(said)):
            sync(session, connection, "test", processes=2)
    run = session.get(IngestRun, connection.last_run_id)
    assert run.status == "failed" and said in run.error
    # Page 3 was read (by the other worker) but never written: its cursor
    # would have skipped page 2.
    assert connection.cursors()["tickets"] == {"cursor": "t1"}
    placed, waiting = tickets_stored(session)
    assert placed | set(waiting) == {str(t["id"]) for t in tickets[:30]}
    assert connection.sync_lease_at is None  # the next sync may start
    assert multiprocessing.active_children() == []

    monkeypatch.setattr(page_module, "write", real_write)
    resumed(session, connection, pages, "t1")
    assert_each_ticket_once(session, tickets)


def test_a_source_failing_mid_stream_keeps_the_pages_it_dealt_out(session, waits, acme):
    connection = zendesk(session)
    tickets = api.zendesk_tickets()
    pages = api.cursor_pages(tickets, "tickets", SIZES, "t")
    with api.replayed() as mock:
        api.add_zendesk(mock, pages[:2])  # the third page's request is refused
        run = sync(session, connection, "test", processes=2)
    assert run.status == "failed"
    assert len(waits) == transport.ATTEMPTS - 1  # it was retried, then given up
    # The two pages fetched before were written, with their cursor.
    assert connection.cursors()["tickets"] == {"cursor": "t2"}
    placed, waiting = tickets_stored(session)
    assert placed | set(waiting) == {str(t["id"]) for t in tickets[:60]}
    assert connection.failures == 1 and connection.last_error == run.error
    assert multiprocessing.active_children() == []

    resumed(session, connection, pages, "t2")
    assert_each_ticket_once(session, tickets)
