"""A payload of any size is kept byte for byte: its bytes are stored in parts
(neither database keeps one value over 1 GB, and a million-ticket export is
1.6 GB), and read back joined. (Payloads stored before: test_data_migrations.)"""

import json

import pytest
from sqlalchemy import func, select

from connectors.pipeline import runs
from connectors.pipeline.runs import payload_content
from crm.models import Event, InboxRecord, RawPayload, RawPayloadPart
from tests.factories import make_client


def _lines(count: int) -> bytes:
    lines = [
        {
            "id": f"t{n}",
            "kind": "ticket.opened",
            "occurred_at": "2026-10-02",
            "client": "acme",
            "title": f"Printer {n} offline",
        }
        for n in range(count)
    ]
    lines[count // 2]["occurred_at"] = "not a date"  # one bad line, kept to replay
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of 100 bytes, so that a file of a few kilobytes stands for a
    file of gigabytes."""
    monkeypatch.setattr(runs, "PART_BYTES", 100)


def test_a_file_larger_than_a_part_is_stored_in_parts_and_ingested_whole(
    app, runner, session, tmp_path, small_parts
):
    make_client("acme")
    content = _lines(40)
    path = tmp_path / "tickets.ndjson"
    path.write_bytes(content)

    result = runner.invoke(args=["ingest", "tickets", str(path)])

    assert result.exit_code == 0, result.output
    payload = session.scalars(select(RawPayload)).one()
    sizes = session.scalars(
        select(func.length(RawPayloadPart.content))
        .where(RawPayloadPart.payload_id == payload.id)
        .order_by(RawPayloadPart.seq)
    ).all()
    assert len(sizes) == -(-len(content) // 100) and set(sizes[:-1]) == {100}
    assert payload_content(session, payload.id) == content
    assert session.scalar(select(func.count()).select_from(Event)) == 39
    rejected = session.scalars(select(InboxRecord)).one()
    assert rejected.field == "occurred_at" and rejected.payload_id == payload.id


def test_a_stored_payload_is_ingested_again_from_its_parts(app, session, small_parts):
    """A webhook's job reads the body back from the database, not the request."""
    from connectors import registry
    from connectors.pipeline import Pipeline

    make_client("acme")
    content = _lines(10)
    with Pipeline(session) as pipeline:
        payload = pipeline.store_payload(registry.get("tickets"), content, "t.ndjson")
        run = pipeline.ingest_payload(registry.get("tickets"), payload, "test")
    assert (run.status, run.accepted, run.rejected) == ("finished", 9, 1)


def test_deleting_a_payload_deletes_its_parts(app, session, small_parts):
    from connectors import registry
    from connectors.pipeline import Pipeline

    with Pipeline(session) as pipeline:
        payload = pipeline.store_payload(registry.get("tickets"), _lines(10), "t.ndjson")
    session.delete(payload)
    session.commit()
    assert session.scalar(select(func.count()).select_from(RawPayloadPart)) == 0
