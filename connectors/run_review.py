"""Ingest runs as staff review them, and replaying one inbox record.

A run lists what it received; its inbox records say what became of the ones
that were not simply accepted. A record whose cause is fixed (a client
created, an identity mapped, or the record itself corrected) goes through the
pipeline again on its own with `replay_record`.
"""

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.pipeline import Pipeline
from connectors.readers import Record
from crm import jsontext
from crm.accounts.operations import audit
from crm.models import InboxHint, InboxRecord, IngestRun
from crm.models.inbox import RUN_COUNTS
from crm.paging import Page, page_of

# Records that can go through the pipeline again; the others already did.
REPLAYABLE = ("rejected", "unmatched", "skipped")


def ingest_runs(
    session: Session, page: int = 1, per_page: int = 25, connector: str | None = None
) -> Page[IngestRun]:
    query = select(IngestRun)
    if connector:
        query = query.where(IngestRun.connector == connector)
    return page_of(session, query.order_by(IngestRun.id.desc()), page, per_page)


def inbox_counts(session: Session, run_id: int) -> dict[str, int]:
    """The run's inbox records by their status now (some were replayed since)."""
    rows = session.execute(
        select(InboxRecord.status, func.count())
        .where(InboxRecord.run_id == run_id)
        .group_by(InboxRecord.status)
    )
    return dict(rows.all())


def run_records(
    session: Session, run_id: int, status: str | None = None, page: int = 1, per_page: int = 50
) -> Page[InboxRecord]:
    """The run's inbox records in file order, optionally of one status."""
    query = select(InboxRecord).where(InboxRecord.run_id == run_id)
    if status:
        query = query.where(InboxRecord.status == status)
    return page_of(session, query.order_by(InboxRecord.position, InboxRecord.id), page, per_page)


# --- replaying one record ------------------------------------------------------


class NotReplayable(ValueError):
    """The record already went in, or its edit is not a JSON object."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def parse_record(text: str) -> dict:
    """An edited record as typed into a form: a JSON object, numbers exact."""
    try:
        data = jsontext.loads(text)
    except json.JSONDecodeError as error:
        raise NotReplayable(
            f"record: not valid JSON at line {error.lineno} column {error.colno}: {error.msg}",
            "record",
        ) from None
    if not isinstance(data, dict):
        raise NotReplayable("record: must be a JSON object ({...})", "record")
    return data


def replay_record(
    session: Session,
    row: InboxRecord,
    started_by: str,
    edited: dict | None = None,
    *,
    via: str,
) -> IngestRun:
    """Send one inbox record through the pipeline again, edited or as it is,
    and note it in the audit log (its outcome, whether it was edited, and the
    door it came `via`: page or api); not committed.

    The edit replaces the stored record; the raw payload it came from stays
    exactly as received. Raises NotReplayable for a record that already went
    in. Answers the replay's run: its counts say what became of the record.
    """
    if row.status not in REPLAYABLE:
        raise NotReplayable(
            f"inbox record {row.id} is {row.status}; only "
            f"{', '.join(REPLAYABLE)} records can be replayed"
        )
    connector = registry.get(row.connector)
    if edited is not None and edited != row.record:
        row.record = edited
        row.natural_key = connector.key_of(edited)[:255]
    run = Pipeline(session).replay(connector, [row], started_by)
    if row.status == "unmatched":
        _refresh_hints(connector, row)
    detail = {"outcome": outcome_of(run), "edited": edited is not None, "via": via}
    audit(session, "inbox.replay", "inbox", str(row.id), detail)
    return run


def outcome_of(run: IngestRun) -> str:
    """What became of the one record a replay run replayed."""
    return next((name for name in RUN_COUNTS if getattr(run, name)), run.status)


def _refresh_hints(connector, row: InboxRecord) -> None:
    """An edited record may name other identities than the one received;
    the queue finds it by the ones it names now."""
    converted = connector.convert_batch([Record(row.position, row.locator, row.record)])
    if not converted.failed:
        claims = [claim for _, items in converted.claims for claim in items]
        named = {
            (system, key[:254])
            for hints in [*converted.events["hints"], *(claim.hints for claim in claims)]
            for system, key in hints.pairs()
        }
        kept = [hint for hint in row.hints if (hint.system, hint.key) in named]
        known = {(hint.system, hint.key) for hint in kept}
        row.hints = kept + [
            InboxHint(system=system, key=key[:254]) for system, key in sorted(named - known)
        ]
