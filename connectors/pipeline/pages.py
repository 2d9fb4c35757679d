"""A page pulled from a vendor's API, ingested as one batch of a run that
lasts the whole sync (connectors.connections.sync).

The page's body is stored as a payload, read by the vendor's connector and
written like any batch; `with_batch` (the sync saving the stream's cursor)
runs inside the batch's transaction, so the cursor moves exactly when the
records it covers are stored. A page is never split into several batches:
vendors' pages are small (Stripe 100, Zendesk 1000 records) and a split page
would commit part of itself without its cursor.

Reading a page (`read_page`: store, parse, check, convert, resolve) writes
nothing of its records, and writing it (`write_page`) is all that must wait
for the page before it: connectors.connections.page_lines reads the next
pages in other processes while one is written.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from connectors.base import Connector
from connectors.pipeline.inbox import keep
from connectors.pipeline.runs import commit_batch, store_payload
from connectors.pipeline.stages import Batch, Writers, prepare, write
from connectors.storable import may_hold_unstorable_text


@dataclass
class ReadPage:
    """A page read and made ready to write: its payload, batch and writers."""

    payload_id: int
    batch: Batch
    writers: Writers


def read_page(session: Session, connector: Connector, content: bytes, filename: str) -> ReadPage:
    """The page stored as a payload (committed: it is kept whatever becomes of
    its records) and its records prepared; nothing of them written. Raises
    UnreadableInput if the connector cannot read the page at all. (Run it and
    `write_page` inside runs.collecting_between_batches.)"""
    payload = store_payload(session, connector, content, filename)
    writers = Writers(session, payload.id)
    records = list(connector.parse(content, filename))
    batch = prepare(connector, records, writers, may_hold_unstorable_text(content))
    return ReadPage(payload.id, batch, writers)


def write_page(
    session: Session,
    connector: Connector,
    run_id: int,
    page: ReadPage,
    with_batch: Callable[[], None],
) -> set[tuple[str, str]]:
    """Write a read page, run `with_batch`, and commit them with the run's
    counts; the identities the page taught."""
    write(page.batch, page.writers)
    keep(session, connector, page.batch, run_id, page.payload_id)
    with_batch()
    commit_batch(session, run_id, page.batch)
    return page.writers.new_hints()
