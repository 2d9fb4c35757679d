"""The inbox: every record the timeline did not take, kept with its reason
(rejected, unmatched, skipped) to be seen and replayed.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Connector
from connectors.pipeline.stages import Batch
from connectors.writers import Outcome
from crm.database import chunks, rows_with_keys
from crm.models import InboxHint, InboxRecord
from crm.models.types import utcnow

# What becomes of a record that the run's counts say all about: an accepted
# record is on the timeline, a duplicate is already there (or already waits
# in the inbox). Neither gets an inbox row: a rerun of a million-record file
# would otherwise store a million rows that say "already there".
KEPT_ONLY_AS_COUNTS = frozenset({"accepted", "duplicate"})


def keep(session: Session, connector: Connector, batch: Batch, run_id: int, payload_id) -> None:
    """Give every record of the batch that did not simply go in a row of its own."""
    mark_already_waiting(session, connector, batch)
    session.add_all(
        inbox_row(connector, record, outcome, run_id, payload_id)
        for record, outcome in zip(batch.records, batch.outcomes, strict=True)
        if outcome.status not in KEPT_ONLY_AS_COUNTS
    )


def mark_already_waiting(session: Session, connector: Connector, batch: Batch) -> None:
    """An unmatched record received again is a duplicate of the one that
    already waits, so mapping its identity replays it once, not twice."""
    keys = {
        connector.key_of(record.data)[:255]: i
        for i, (record, outcome) in enumerate(zip(batch.records, batch.outcomes, strict=True))
        if outcome.status == "unmatched"
    }
    waiting = {}
    for chunk in chunks(sorted(keys)):
        waiting.update(
            session.execute(
                select(InboxRecord.natural_key, InboxRecord.id).where(
                    InboxRecord.connector == connector.name,
                    InboxRecord.status == "unmatched",
                    InboxRecord.natural_key.in_(chunk),
                )
            ).all()
        )
    for key, inbox_id in waiting.items():
        batch.outcomes[keys[key]] = Outcome(
            "duplicate", f"already waiting in the inbox as unmatched record {inbox_id}"
        )


def inbox_row(connector, record, outcome, run_id, payload_id) -> InboxRecord:
    return InboxRecord(
        run_id=run_id,
        payload_id=payload_id,
        connector=connector.name,
        position=record.position,
        locator=record.locator,
        status=outcome.status,
        field=outcome.field,
        reason=outcome.reason or outcome.status,
        natural_key=connector.key_of(record.data)[:255],
        record=record.data,
        hints=[InboxHint(system=s, key=k[:254]) for s, k in outcome.hints],
    )


def update_inbox(row: InboxRecord, outcome: Outcome) -> None:
    if outcome.status in ("accepted", "duplicate"):
        row.status, row.replayed_at = "replayed", utcnow()
        row.reason = f"{row.reason} (replayed: {outcome.status})"
    else:
        row.status, row.field, row.reason = outcome.status, outcome.field, outcome.reason


def waiting_for(session: Session, pairs: set[tuple[str, str]]) -> dict[str, list[InboxRecord]]:
    """The unmatched records that named one of these identities, by connector."""
    hinted = rows_with_keys(session, InboxHint.__table__, ("record_id",), ("system", "key"), pairs)
    record_ids = sorted({record_id for (record_id,) in hinted})
    by_connector: dict[str, list[InboxRecord]] = {}
    for chunk in chunks(record_ids):
        rows = session.scalars(
            select(InboxRecord)
            .where(InboxRecord.id.in_(chunk), InboxRecord.status == "unmatched")
            .order_by(InboxRecord.id)
        )
        for row in rows:
            by_connector.setdefault(row.connector, []).append(row)
    return by_connector
