"""The shared pipeline: idempotent, order-independent, crash-safe, and lossless."""

import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from connectors import registry
from connectors.generic import GenericEventConnector
from connectors.pipeline import Pipeline
from connectors.pipeline.runs import payload_content
from connectors.registry import register
from connectors.writers import EventWriter
from crm.identities import ClientHints
from crm.models import Entity, Event, InboxRecord, IngestRun, RawPayload
from tests.factories import event, make_client, ndjson
from tests.helpers import entity_states, ingest_file

ingest = ingest_file


def timeline(session) -> list[tuple]:
    return session.execute(
        select(Event.origin, Event.external_id, Event.client_id, Event.kind, Event.amount).order_by(
            Event.origin, Event.external_id
        )
    ).all()


def ticket_history(threads: int) -> list[dict]:
    """Each ticket: opened, two updates, resolved; a late update stamped earlier."""
    records = []
    for n in range(threads):
        base = n * 10
        thread = {"account": "AC-1", "thread": f"T{n}"}
        records += [
            event(
                f"{n}-open", "ticket.opened", base, title=f"Ticket {n}", priority="normal", **thread
            ),
            event(f"{n}-up1", "ticket.updated", base + 1, priority="high", **thread),
            event(
                f"{n}-up2", "ticket.updated", base + 2, assignee="Bob", status="pending", **thread
            ),
            event(f"{n}-done", "ticket.resolved", base + 3, **thread),
        ]
    return records


def test_same_file_twice_gives_the_same_rows(runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    path = ndjson(tmp_path / "tickets.ndjson", ticket_history(30))
    first = ingest(runner, "tickets", path)
    rows, states = timeline(session), entity_states(session)
    second = ingest(runner, "tickets", path)

    assert first["accepted"] == 120 and first["duplicate"] == 0
    assert second["accepted"] == 0 and second["duplicate"] == 120
    assert timeline(session) == rows
    assert entity_states(session) == states
    assert session.scalar(select(func.count()).select_from(RawPayload)) == 1
    # Counted, not stored: a rerun of a big file once wrote a row per record.
    assert session.scalar(select(func.count()).select_from(InboxRecord)) == 0


def test_out_of_order_events_give_the_in_order_state(runner, session, tmp_path):
    """Batches of 50 split threads across batches, so both fold paths run."""
    make_client("acme", identities=[("account", "AC-1")])
    records = ticket_history(40)
    ingest(runner, "tickets", ndjson(tmp_path / "in-order.ndjson", records))
    in_order = entity_states(session)
    assert {state.status for state in in_order} == {"resolved"}

    session.execute(Entity.__table__.delete())
    session.execute(Event.__table__.delete())
    session.commit()
    random.Random(4).shuffle(records)
    ingest(runner, "tickets", ndjson(tmp_path / "shuffled.ndjson", records))
    assert entity_states(session) == in_order


def test_bad_records_land_in_the_inbox_and_change_nothing_else(runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    path = tmp_path / "billing.csv"
    path.write_text(
        "id,kind,occurred_at,account,amount,currency,thread\n"
        "inv-1,invoice.issued,2026-10-01T10:00:00Z,AC-1,100.00,EUR,INV-1\n"
        "inv-2,invoice.issued,the 3rd of October,AC-1,50.00,EUR,INV-2\n"
        "inv-3,invoice.teleported,2026-10-03T10:00:00Z,AC-1,10,EUR,INV-3\n"
        "inv-4,invoice.issued,2026-10-04T10:00:00Z,NOBODY,10,EUR,INV-4\n"
        "inv-5,invoice.issued,2026-10-05T10:00:00Z,AC-1,10,EUR,INV-5,surplus\n"
        "inv-6,invoice.issued,2026-10-05T10:00:00Z,AC-1,12.345678,EUR,INV-6\n"
    )
    summary = ingest(runner, "billing", path)

    assert summary | {"run_id": 0} == {
        "run_id": 0,
        "connector": "billing",
        "status": "finished",
        "total": 6,
        "accepted": 1,
        "duplicate": 0,
        "skipped": 1,
        "rejected": 3,
        "unmatched": 1,
    }
    assert [row.external_id for row in session.scalars(select(Event))] == ["inv-1"]
    inbox = {
        row.locator: row
        for row in session.scalars(
            select(InboxRecord).where(InboxRecord.run_id == summary["run_id"])
        )
    }
    assert (inbox["line 3"].status, inbox["line 3"].field) == ("rejected", "occurred_at")
    assert "ISO 8601" in inbox["line 3"].reason
    assert inbox["line 3"].record["occurred_at"] == "the 3rd of October"
    assert inbox["line 4"].status == "skipped" and "invoice.teleported" in inbox["line 4"].reason
    assert inbox["line 5"].status == "unmatched" and "account NOBODY" in inbox["line 5"].reason
    assert inbox["line 6"].status == "rejected" and "header has 7" in inbox["line 6"].reason
    assert (inbox["line 7"].status, inbox["line 7"].field) == ("rejected", "amount")


def test_unreadable_file_fails_the_run_but_keeps_the_payload(runner, session, tmp_path):
    path = tmp_path / "broken.json"
    path.write_bytes(b'[{"id": "1", ')
    result = runner.invoke(args=["ingest", "billing", str(path)])
    assert result.exit_code != 0
    assert "not valid JSON" in result.output
    run = session.scalars(select(IngestRun)).one()
    assert run.status == "failed" and "not valid JSON" in run.error
    assert payload_content(session, run.payload_id) == b'[{"id": "1", '


def test_crash_mid_file_leaves_no_partial_batch_and_a_rerun_completes(
    app, session, tmp_path, monkeypatch
):
    make_client("acme", identities=[("account", "AC-1")])
    content = ndjson(tmp_path / "t.ndjson", ticket_history(40)).read_bytes()  # 160 records
    real_write, calls = EventWriter.write, []

    def write_then_crash(self, items):
        calls.append(len(items))
        outcomes = real_write(self, items)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return outcomes

    monkeypatch.setattr(EventWriter, "write", write_then_crash)
    pipeline = Pipeline(session, batch_size=50)
    with pytest.raises(RuntimeError, match="power cut"):
        pipeline.ingest(registry.get("tickets"), content, "t.ndjson", "test")
    assert session.scalar(select(func.count()).select_from(Event)) == 50
    failed = session.scalars(select(IngestRun)).one()
    assert (failed.status, failed.accepted) == ("failed", 50)
    assert "power cut" in failed.error

    monkeypatch.setattr(EventWriter, "write", real_write)
    rerun = Pipeline(session, batch_size=50).ingest(
        registry.get("tickets"), content, "t.ndjson", "test"
    )
    assert (rerun.accepted, rerun.duplicate) == (110, 50)
    assert session.scalar(select(func.count()).select_from(Event)) == 160
    assert {e.status for e in session.scalars(select(Entity))} == {"resolved"}


def test_mapping_an_identity_replays_its_unmatched_records(runner, session, tmp_path):
    acme = make_client("acme")
    records = [
        event("a1", "alert.raised", 0, account="RMM-77", thread="fp1", title="Disk C: 95% full"),
        event("a2", "alert.resolved", 2, account="RMM-77", thread="fp1"),
        event("a3", "alert.raised", 3, account="OTHER", thread="fp2"),
    ]
    summary = ingest(runner, "rmm", ndjson(tmp_path / "rmm.ndjson", records))
    assert summary["unmatched"] == 3

    result = runner.invoke(args=["identities", "map", "account", "RMM-77", "acme"])
    assert result.exit_code == 0, result.output
    assert "replayed 2 rmm records: 2 accepted" in result.output

    events = session.scalars(select(Event).order_by(Event.external_id)).all()
    assert [(e.external_id, e.client_id) for e in events] == [("a1", acme.id), ("a2", acme.id)]
    alert = session.scalars(select(Entity)).one()
    assert (alert.type, alert.status, alert.title) == ("alert", "resolved", "Disk C: 95% full")
    statuses = session.execute(
        select(InboxRecord.natural_key, InboxRecord.status).order_by(InboxRecord.natural_key)
    ).all()
    assert statuses == [("rmm:a1", "replayed"), ("rmm:a2", "replayed"), ("rmm:a3", "unmatched")]


def test_marketing_finds_clients_by_contact_email_then_domain(runner, session, tmp_path):
    acme = make_client("acme", emails=["ana@acme.example"], identities=[("domain", "acme.example")])
    records = [
        event("m1", "email.opened", 0, email="Ana@Acme.example"),
        event("m2", "email.clicked", 1, email="someone.new@acme.example"),
        event("m3", "email.bounced", 2, email="x@unknown.example"),
    ]
    summary = ingest(runner, "marketing", ndjson(tmp_path / "m.ndjson", records))
    assert (summary["accepted"], summary["unmatched"]) == (2, 1)
    assert {e.client_id for e in session.scalars(select(Event))} == {acme.id}


def test_a_duplicate_inside_one_file_is_counted_once(runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    same = event("n1", "ticket.opened", 0, account="AC-1", thread="T1")
    summary = ingest(runner, "tickets", ndjson(tmp_path / "d.ndjson", [same, same]))
    assert (summary["accepted"], summary["duplicate"]) == (1, 1)


def test_json_amounts_stay_exact(runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    path = tmp_path / "b.ndjson"
    path.write_text(
        '{"id": "i1", "kind": "invoice.issued", "occurred_at": "2026-10-01T00:00:00Z",'
        ' "account": "AC-1", "amount": 12345678901234.5678, "currency": "EUR", "fx": 1.1}\n'
    )
    assert ingest(runner, "billing", path)["accepted"] == 1
    stored = session.scalars(select(Event)).one()
    assert stored.amount == Decimal("12345678901234.5678")
    assert stored.attributes["fx"] == "1.1"


def test_an_email_mapped_by_hand_replays_its_records(runner, session, tmp_path):
    acme = make_client("acme")
    records = [event("m1", "email.opened", 0, email="cfo@gmail.example")]
    assert ingest(runner, "marketing", ndjson(tmp_path / "m.ndjson", records))["unmatched"] == 1
    result = runner.invoke(args=["identities", "map", "email", "CFO@gmail.example", "acme"])
    assert "1 accepted" in result.output
    assert session.scalars(select(Event.client_id)).all() == [acme.id]


def test_an_unmatched_record_received_twice_waits_once(runner, session, tmp_path):
    path = ndjson(tmp_path / "r.ndjson", [event("a1", "alert.raised", 0, account="RMM-9")])
    assert ingest(runner, "rmm", path)["unmatched"] == 1
    again = ingest(runner, "rmm", path)
    assert (again["unmatched"], again["duplicate"]) == (0, 1)
    make_client("acme")
    result = runner.invoke(args=["identities", "map", "account", "RMM-9", "acme"])
    assert "replayed 1 rmm records: 1 accepted" in result.output


class _ChargesConnector(GenericEventConnector):
    """Billing records whose `charge` column names a charge, as Stripe's do."""

    name, source = "test-charges", "billing"

    def convert_batch(self, records):
        converted = super().convert_batch(records)
        events = converted.events
        for i, position in enumerate(events.record):
            charge = events["attributes"][i].get("charge")
            if charge and records[position].data.get("account"):
                events["aliases"][i] = (("stripe_charge", charge),)
            elif charge:
                events["hints"][i] = ClientHints(
                    identities=(("stripe_charge", charge),), emails=events["hints"][i].emails
                )
        return converted


register(_ChargesConnector)


def test_an_identity_learnt_from_one_event_resolves_the_records_waiting_for_it(
    runner, session, tmp_path
):
    acme = make_client("acme", identities=[("account", "AC-1")])
    dispute = event("dp_1", "dispute.opened", 5, charge="ch_1", email="x@nowhere.example")
    assert (
        ingest(runner, "test-charges", ndjson(tmp_path / "d.ndjson", [dispute]))["unmatched"] == 1
    )

    charge = event("ch_1", "payment.received", 0, account="AC-1", charge="ch_1", thread="in_1")
    assert ingest(runner, "test-charges", ndjson(tmp_path / "c.ndjson", [charge]))["accepted"] == 1

    stored = dict(session.execute(select(Event.external_id, Event.client_id)).all())
    assert stored == {"ch_1": acme.id, "dp_1": acme.id}
    assert session.scalars(select(InboxRecord.status)).all() == ["replayed"]
