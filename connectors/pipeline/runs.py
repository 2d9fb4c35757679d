"""A run: the stored payload it reads, its start, its counts committed with
each batch, and its end; and what a run's processes found reading.
"""

import contextlib
import gc
import hashlib
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.pipeline.stages import Batch
from connectors.readers import UnreadableInput, format_of
from crm.models import IngestRun, RawPayload, RawPayloadPart
from crm.models.types import utcnow


@contextlib.contextmanager
def collecting_between_batches():
    """Pause automatic garbage collection while a run ingests.

    A batch makes some 100,000 container objects that all live until it
    ends, so the cyclic collector, left to itself, walks the whole heap about
    once a batch and finds nothing: a quarter of the ingest time. Reference
    counting frees memory as usual. A batch leaves some ten objects in
    cycles (measured at 20,000 records a batch), which wait for the first
    collection after the run: even ten million records leave a few thousand,
    where collecting after every batch cost a fortieth of the ingest time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Reading:
    """What a process found reading the inputs of a task, by run id: why an
    input could not be read, and how many records an input it read to the
    end holds. Every process finds the same; the coordinator's ends the runs."""

    unreadable: dict[int, str] = field(default_factory=dict)
    records: dict[int, int] = field(default_factory=dict)

    def all_written(self, run: IngestRun) -> bool:
        """Whether every record of the run's input is written (and counted)."""
        return run.id in self.records and run.total == self.records[run.id]


# A part's size: well under the 1 GB either database keeps in one value, and
# large enough that a webhook body or an ordinary export is a single part.
PART_BYTES = 64 * 1024 * 1024


def payload_content(session: Session, payload_id: int) -> bytes:
    """A stored payload's bytes, its parts joined in order."""
    parts = session.scalars(
        select(RawPayloadPart.content)
        .where(RawPayloadPart.payload_id == payload_id)
        .order_by(RawPayloadPart.seq)
    ).all()
    return b"".join(parts)


def store_payload(session: Session, connector, content: bytes, filename) -> RawPayload:
    """The payload with these bytes, to be read in the format `filename`
    names, stored (and committed) unless it already is. The same bytes
    sent as another format are another payload: a JSON body sent as CSV
    by mistake must not make the same body, sent again as JSON, look
    already read."""
    digest = hashlib.sha256(content).hexdigest()
    try:
        media_type = format_of(filename, connector.default_format)
    except UnreadableInput:
        media_type = "unknown"
    payload = session.scalar(
        select(RawPayload)
        .where(
            RawPayload.sha256 == digest,
            RawPayload.connector == connector.name,
            RawPayload.media_type == media_type,
        )
        .limit(1)
    )
    if payload is None:
        view = memoryview(content)
        payload = RawPayload(
            connector=connector.name,
            filename=filename,
            media_type=media_type,
            sha256=digest,
            size=len(content),
            parts=[  # views, not copies: a big export is not held twice
                RawPayloadPart(seq=seq, content=view[start : start + PART_BYTES])
                for seq, start in enumerate(range(0, len(content) or 1, PART_BYTES))
            ],
        )
        session.add(payload)
        session.commit()
    return payload


def start_run(
    session: Session, connector_name, started_by, source_name, payload, job_id: int | None = None
) -> IngestRun:
    run = IngestRun(
        connector=connector_name,
        started_by=started_by[:120],  # the column's length: a long file path is cut
        source_name=source_name,
        payload_id=payload.id if payload else None,
        job_id=job_id,
    )
    session.add(run)
    session.commit()
    return run


def commit_batch(session: Session, run_id: int, batch: Batch) -> None:
    """The batch's writes and the run's counts land together, or not at all.
    The counts are added in SQL: processes sharing a run never overwrite
    each other's (see connectors.parallel)."""
    runs = IngestRun.__table__
    counts = Counter(outcome.status for outcome in batch.outcomes)
    session.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(
            {runs.c.total: runs.c.total + len(batch.outcomes), runs.c.heartbeat_at: utcnow()}
            | {runs.c[status]: runs.c[status] + count for status, count in counts.items()}
        )
    )
    session.commit()


def fail(session: Session, run: IngestRun, error: str) -> None:
    session.rollback()
    run.status, run.error, run.finished_at = "failed", error, utcnow()
    session.commit()


def finish(session: Session, run: IngestRun) -> IngestRun:
    run.status, run.finished_at = "finished", utcnow()
    session.commit()
    return run
