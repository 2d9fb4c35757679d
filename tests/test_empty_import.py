"""An import that finds no records in its file warns, wherever it is read: the
API's answer and run, `flask ingest`, the run pages and the import's job.
"Finished, 0 records" with no word said was read as success."""

import io
import json

from crm.models import IngestRun
from tests.factories import event, make_client

EMPTY_FILES = [
    ("tickets", b"", "tickets.ndjson"),
    ("tickets", b"\n\n", "tickets.ndjson"),
    ("tickets", b"[]", "tickets.json"),
    ("billing", b"id,kind,occurred_at,account,amount,currency,thread\n", "invoices.csv"),
]


def _upload(http, connector: str, content: bytes, filename: str):
    return http.post(
        f"/api/v1/ingest/{connector}",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_each_kind_of_empty_file_is_answered_with_a_warning(client, session):
    for connector, content, filename in EMPTY_FILES:
        answer = _upload(client, connector, content, filename)
        assert answer.status_code == 200, (filename, answer.json)
        assert answer.json["total"] == 0, filename
        assert "held no records" in answer.json["warning"], filename
        run = client.get(f"/api/v1/runs/{answer.json['run_id']}").json["run"]
        assert "nothing was imported" in run["warning"]


def test_a_file_with_records_carries_no_warning(client, session):
    make_client("acme", identities=[("account", "AC-1")])
    record = event("t-1", "ticket.opened", account="AC-1", thread="T-1")
    answer = _upload(client, "tickets", json.dumps(record).encode(), "tickets.ndjson")
    assert answer.json["accepted"] == 1
    assert "warning" not in answer.json
    assert client.get(f"/api/v1/runs/{answer.json['run_id']}").json["run"]["warning"] is None


def test_a_file_of_only_duplicates_is_not_empty(client, session):
    make_client("acme", identities=[("account", "AC-1")])
    body = json.dumps(event("t-1", "ticket.opened", account="AC-1", thread="T-1")).encode()
    _upload(client, "tickets", body, "tickets.ndjson")
    again = _upload(client, "tickets", body, "again.ndjson").json
    assert again["duplicate"] == 1 and "warning" not in again


def test_flask_ingest_warns_on_an_empty_file(runner, session, tmp_path):
    empty = tmp_path / "tickets.ndjson"
    empty.write_bytes(b"")
    result = runner.invoke(args=["ingest", "tickets", str(empty)])
    assert result.exit_code == 0, result.output
    assert "warning: The file held no records" in result.stderr
    as_json = runner.invoke(args=["ingest", "tickets", str(empty), "--json"])
    assert "held no records" in json.loads(as_json.stdout)["warning"]


def test_the_run_pages_and_the_import_job_say_so(app, login_as, session):
    manager = login_as("manager")
    upload = {"connector": "tickets", "file": (io.BytesIO(b"[]"), "tickets.json")}
    job_page = manager.post("/runs/import", data=upload, follow_redirects=True)
    assert "held no records" in job_page.get_data(as_text=True)
    run = session.query(IngestRun).one()
    page = manager.get(f"/runs/{run.id}").get_data(as_text=True)
    assert 'class="flash flash-warning"' in page and "nothing was imported" in page
    assert "no records" in manager.get("/runs").get_data(as_text=True)
