"""/api/v1: file ingest, runs, unmatched records and replaying one record."""

import io
import json

from sqlalchemy import select

from crm.accounts.models import AuditEntry
from crm.models import Event, InboxRecord, IngestRun
from tests.factories import event, make_client

CSV = (
    "id,kind,occurred_at,account,amount,currency,thread\n"
    "inv-1,invoice.issued,2026-10-01T10:00:00Z,AC-1,100.00,EUR,INV-1\n"
    "inv-2,invoice.issued,the 3rd of October,AC-1,50.00,EUR,INV-2\n"
    "inv-3,invoice.issued,2026-10-03T10:00:00Z,NOBODY,10,EUR,INV-3\n"
)


def _upload(client, connector: str, content: bytes, filename: str):
    return client.post(
        f"/api/v1/ingest/{connector}",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def _ndjson(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def test_a_csv_file_is_ingested_and_its_counts_returned(client, session):
    make_client("acme", identities=[("account", "AC-1")])
    response = _upload(client, "billing", CSV.encode(), "invoices.csv")
    assert response.status_code == 200, response.json
    summary = response.json
    run = session.get(IngestRun, summary["run_id"])
    assert summary == {
        "run_id": run.id,
        "connector": "billing",
        "status": "finished",
        "total": 3,
        "accepted": 1,
        "duplicate": 0,
        "skipped": 0,
        "rejected": 1,
        "unmatched": 1,
    }
    assert (run.source_name, run.started_by) == ("invoices.csv", "api:invoices.csv")
    assert session.scalars(select(Event.external_id)).all() == ["inv-1"]


def test_an_ndjson_file_is_ingested_and_the_same_file_again_is_all_duplicates(client):
    make_client("acme", identities=[("account", "AC-1")])
    content = _ndjson([event(f"t{n}", "ticket.opened", n, account="AC-1") for n in range(3)])
    first = _upload(client, "tickets", content, "tickets.ndjson").json
    again = _upload(client, "tickets", content, "tickets.ndjson").json
    assert (first["accepted"], again["duplicate"], again["accepted"]) == (3, 3, 0)


def test_an_unknown_connector_is_404_naming_the_known_ones(client):
    response = _upload(client, "nosuch", b"x", "x.csv")
    assert response.status_code == 404
    assert response.json["field"] == "connector"
    assert "no connector named 'nosuch'; known: " in response.json["message"]
    assert "billing" in response.json["message"]


def test_an_unreadable_file_is_400_saying_why(client, session):
    response = _upload(client, "billing", b"PK\x03\x04", "events.xlsx")
    assert response.status_code == 400
    assert response.json["field"] == "file"
    assert response.json["message"] == (
        "file: cannot read events.xlsx: events.xlsx: unknown file type .xlsx; "
        "use .csv, .json or .ndjson"
    )
    broken = _upload(client, "billing", b'[{"id": "1", ', "broken.json")
    assert broken.status_code == 400 and "not valid JSON at line 1" in broken.json["message"]
    latin1 = _upload(client, "billing", "id,kind\nä,x\n".encode("latin-1"), "l.csv")
    assert latin1.status_code == 400 and "not UTF-8 text" in latin1.json["message"]
    failed = session.scalars(select(IngestRun.status)).all()
    assert failed == ["failed", "failed", "failed"]  # kept, as the CLI keeps them


def test_a_request_without_a_file_names_the_field(client):
    response = client.post("/api/v1/ingest/billing", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.json["field"] == "file"


def test_runs_are_listed_and_one_run_shows_its_rejected_records(client):
    make_client("acme", identities=[("account", "AC-1")])
    first = _upload(client, "billing", CSV.encode(), "a.csv").json
    second = _upload(client, "billing", CSV.encode() + b"\n", "b.csv").json
    listed = client.get("/api/v1/runs?per_page=1").json
    assert (listed["total"], listed["pages"]) == (2, 2)
    assert [run["run_id"] for run in listed["items"]] == [second["run_id"]]
    assert listed["items"][0]["started_at"].endswith("+00:00")

    detail = client.get(f"/api/v1/runs/{first['run_id']}?status=rejected").json
    assert detail["run"]["rejected"] == 1
    assert detail["inbox"] == {"rejected": 1, "unmatched": 1}
    (rejected,) = detail["records"]["items"]
    assert (rejected["locator"], rejected["field"]) == ("line 3", "occurred_at")
    assert "ISO 8601" in rejected["reason"]
    assert rejected["record"]["occurred_at"] == "the 3rd of October"
    assert client.get("/api/v1/runs/999").status_code == 404
    bad = client.get(f"/api/v1/runs/{first['run_id']}?status=lost")
    assert bad.status_code == 422 and bad.json["field"] == "status"


def test_unmatched_records_are_listed_flat_with_filters(client):
    records = [event(f"i{n}", "invoice.issued", n, account=f"ACC-{n % 2}") for n in range(5)]
    _upload(client, "billing", _ndjson(records), "b.ndjson")
    everything = client.get("/api/v1/unmatched/records").json
    assert everything["total"] == 5
    one_key = client.get("/api/v1/unmatched/records?system=account&key=ACC-1&per_page=1").json
    assert (one_key["total"], one_key["pages"]) == (2, 2)
    (item,) = one_key["items"]
    assert item["hints"] == [{"system": "account", "key": "ACC-1"}]
    assert item["status"] == "unmatched" and item["connector"] == "billing"


def test_a_long_file_name_is_cut_to_fit_the_run_it_starts(client, session):
    make_client("acme", identities=[("account", "AC-1")])
    filename = "invoices-" + "x" * 200 + ".csv"
    response = _upload(client, "billing", CSV.encode(), filename)
    assert response.status_code == 200, response.json
    run = session.get(IngestRun, response.json["run_id"])
    assert run.started_by == f"api:{filename}"[:120]


def test_a_rejected_record_is_fixed_and_replayed_through_the_api(client, session):
    acme = make_client("acme", identities=[("account", "AC-1")])
    run = _upload(client, "billing", CSV.encode(), "a.csv").json
    row = session.scalars(
        select(InboxRecord).where(
            InboxRecord.run_id == run["run_id"], InboxRecord.status == "rejected"
        )
    ).one()

    unchanged = client.post(f"/api/v1/inbox/{row.id}/replay")
    assert unchanged.status_code == 200
    assert unchanged.json["outcome"] == "rejected"
    assert unchanged.json["record"]["field"] == "occurred_at"

    fixed = dict(row.record, occurred_at="2026-10-03T10:00:00+02:00")
    response = client.post(f"/api/v1/inbox/{row.id}/replay", json={"record": fixed})
    assert response.status_code == 200, response.json
    assert response.json["outcome"] == "accepted"
    assert response.json["record"]["status"] == "replayed"
    assert response.json["run"]["accepted"] == 1
    replayed = session.scalars(select(Event).where(Event.external_id == "inv-2")).one()
    assert replayed.client_id == acme.id

    # Each replay is in the audit log, with what became of the record; a refused one is not.
    again = client.post(f"/api/v1/inbox/{row.id}/replay")
    assert again.status_code == 409
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "inbox.replay").order_by(AuditEntry.id)
    ).all()
    # (an API request's entry also names the token it came with)
    assert [(e.target, e.detail | {"token": None}) for e in entries] == [
        (str(row.id), {"outcome": "rejected", "edited": False, "via": "api", "token": None}),
        (str(row.id), {"outcome": "accepted", "edited": True, "via": "api", "token": None}),
    ]
    assert f"inbox record {row.id} is replayed" in again.json["message"]
    not_object = client.post(f"/api/v1/inbox/{row.id}/replay", json={"record": [1]})
    assert not_object.status_code == 422 and not_object.json["field"] == "record"
    assert client.post("/api/v1/inbox/999/replay").status_code == 404
