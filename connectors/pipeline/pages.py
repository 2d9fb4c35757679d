"""A page pulled from a vendor's API, ingested as one batch of a run that
lasts the whole sync (connectors.connections.sync).

The page's body is stored as a payload, read by the vendor's connector and
written like any batch; `with_batch` (the sync saving the stream's cursor)
runs inside the batch's transaction, so the cursor moves exactly when the
records it covers are stored. A page is never split into several batches:
vendors' pages are small (Stripe 100, Zendesk 1000 records) and a split page
would commit part of itself without its cursor.
"""

from collections.abc import Callable

from sqlalchemy.orm import Session

from connectors.base import Connector
from connectors.pipeline.inbox import keep
from connectors.pipeline.runs import collecting_between_batches, commit_batch, store_payload
from connectors.pipeline.stages import Writers, prepare, write
from connectors.storable import may_hold_unstorable_text


def ingest_page(
    session: Session,
    connector: Connector,
    run_id: int,
    content: bytes,
    filename: str,
    with_batch: Callable[[], None],
) -> set[tuple[str, str]]:
    """Ingest one page in one commit with whatever `with_batch` adds; the
    identities it taught (for Pipeline.replay_matching). Raises
    UnreadableInput if the connector cannot read the page at all."""
    payload = store_payload(session, connector, content, filename)
    writers = Writers(session, payload.id)
    records = list(connector.parse(content, filename))
    with collecting_between_batches():
        batch = prepare(connector, records, writers, may_hold_unstorable_text(content))
        write(batch, writers)
        keep(session, connector, batch, run_id, payload.id)
        with_batch()
        commit_batch(session, run_id, batch)
    return writers.new_hints()
