"""Ingest runs: the list with counts, one run's records, fixing and replaying a record."""

import html
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors.pipeline.runs import payload_content
from crm.accounts.models import AuditEntry
from crm.jobs.models import Job
from crm.models import Event, InboxRecord, IngestRun, RawPayload
from crm.models.types import utcnow
from tests.factories import event, make_client, ndjson
from tests.helpers import ingest_file

BILLING_CSV = (
    "id,kind,occurred_at,account,amount,currency,thread\n"
    "inv-1,invoice.issued,2026-10-01T10:00:00Z,AC-1,100.00,EUR,INV-1\n"
    "inv-2,invoice.issued,the 3rd of October,AC-1,50.00,EUR,INV-2\n"
    "inv-3,invoice.teleported,2026-10-03T10:00:00Z,AC-1,10,EUR,INV-3\n"
)


def _text(response) -> str:
    """The page as a person reads it: tags gone, whitespace collapsed."""
    words = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split()
    return html.unescape(" ".join(words))


def _bad_date_run(runner, tmp_path) -> dict:
    """A billing file with one good, one rejected (bad date), one skipped record."""
    path = tmp_path / "billing.csv"
    path.write_text(BILLING_CSV)
    return ingest_file(runner, "billing", path)


def _rejected(session) -> InboxRecord:
    return session.scalars(select(InboxRecord).where(InboxRecord.status == "rejected")).one()


def test_runs_are_listed_newest_first_with_their_counts(client, runner, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    first = _bad_date_run(runner, tmp_path)
    second = ingest_file(
        runner, "rmm", ndjson(tmp_path / "r.ndjson", [event("a1", "alert.raised", account="AC-1")])
    )
    page = client.get("/runs").get_data(as_text=True)
    rows = page.split("<tbody>")[1].split("</tr>")[:2]
    assert f"#{second['run_id']}" in rows[0] and f"#{first['run_id']}" in rows[1]
    cells = [c.split("</td>")[0] for c in rows[1].split('<td class="num')[1:]]
    assert [c.rpartition(">")[2] for c in cells] == ["3", "1", "0", "1", "1", "0"]
    only_rmm = client.get("/runs?connector=rmm").get_data(as_text=True)
    assert f"#{second['run_id']}<" in only_rmm and f"#{first['run_id']}<" not in only_rmm


def test_a_run_shows_its_rejected_records_with_reasons(client, runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    summary = _bad_date_run(runner, tmp_path)
    text = _text(client.get(f"/runs/{summary['run_id']}"))
    assert "rejected 1" in text and "skipped 1" in text
    row = _rejected(session)
    assert f"line 3 rejected occurred_at {row.reason}" in text
    assert "ISO 8601" in row.reason
    assert "invoice.teleported" not in text  # the rejected tab opens first
    skipped = _text(client.get(f"/runs/{summary['run_id']}?status=skipped"))
    assert "invoice.teleported" in skipped


def test_a_rejected_record_is_fixed_by_editing_and_replayed(client, runner, session, tmp_path):
    acme = make_client("acme", identities=[("account", "AC-1")])
    _bad_date_run(runner, tmp_path)
    row = _rejected(session)
    page = _text(client.get(f"/inbox/{row.id}"))
    assert '"occurred_at": "the 3rd of October"' in page

    broken = client.post(f"/inbox/{row.id}", data={"record": '{"id": "inv-2",'})
    assert broken.status_code == 400
    assert "record: not valid JSON at line 1 column 16: Expecting property name" in _text(broken)
    not_object = client.post(f"/inbox/{row.id}", data={"record": "[1, 2]"})
    assert "record: must be a JSON object" in _text(not_object)
    session.expire_all()
    assert _rejected(session).record["occurred_at"] == "the 3rd of October"

    fixed = dict(row.record, occurred_at="2026-10-03T10:00:00Z")
    response = client.post(f"/inbox/{row.id}", data={"record": str(fixed).replace("'", '"')})
    assert response.status_code == 302
    assert "Inbox record" in _text(client.get(response.location))
    session.expire_all()
    assert session.get(InboxRecord, row.id).status == "replayed"
    replayed = session.scalars(select(Event).where(Event.external_id == "inv-2")).one()
    assert replayed.client_id == acme.id and replayed.amount == 50
    payload = session.scalars(select(RawPayload)).one()
    assert b"the 3rd of October" in payload_content(session, payload.id)  # the file as received

    again = client.post(f"/inbox/{row.id}", data={"record": ""})
    assert again.status_code == 400
    assert f"inbox record {row.id} is replayed" in _text(again)
    # The replay is in the audit log; the refused attempts are not.
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "inbox.replay")).all()
    assert [(e.target, e.detail) for e in entries] == [
        (str(row.id), {"outcome": "accepted", "edited": True, "via": "page"})
    ]


def test_a_replay_that_still_fails_says_why(client, runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    _bad_date_run(runner, tmp_path)
    row = _rejected(session)
    edited = '{"id": "inv-2", "kind": "invoice.issued", "occurred_at": "soon", "account": "AC-1"}'
    response = client.post(f"/inbox/{row.id}", data={"record": edited}, follow_redirects=True)
    text = _text(response)
    assert f"Inbox record {row.id} replayed but still rejected: occurred_at" in text
    session.expire_all()
    assert session.get(InboxRecord, row.id).record["occurred_at"] == "soon"


def test_unknown_runs_and_records_are_404(client):
    assert client.get("/runs/999").status_code == 404
    assert client.get("/inbox/999").status_code == 404
    assert client.get("/runs?page=0").status_code == 400


def test_a_run_whose_process_stopped_is_shown_interrupted(client, session):
    """`flask ingest` killed with -9 leaves its run `running`: once its
    heartbeat is older than the setting, pages and API say interrupted."""
    run = IngestRun(connector="tickets", started_by="cli", source_name="big.ndjson")
    session.add(run)
    session.commit()
    assert client.get(f"/api/v1/runs/{run.id}").json["run"]["status"] == "running"
    run.heartbeat_at = utcnow() - timedelta(minutes=11)
    session.commit()
    assert client.get(f"/api/v1/runs/{run.id}").json["run"]["status"] == "interrupted"
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "interrupted" in page and "Ingest the same" in page
    assert "interrupted" in client.get("/runs").get_data(as_text=True)


def test_a_file_imported_from_the_runs_page_goes_in_as_a_job(client, session):
    """Import a file: pick the system, send the file, follow its job to the run."""
    make_client("acme", identities=[("account", "AC-1")])
    records = [
        event("u1", "ticket.opened", 0, account="AC-1", thread="T-1"),
        event("u2", "ticket.opened", 1, account="NOBODY", thread="T-2"),
    ]
    content = "".join(json.dumps(record) + "\n" for record in records).encode()
    response = client.post(
        "/runs/import",
        data={"connector": "tickets", "file": (io.BytesIO(content), "../tickets.ndjson")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    job = session.scalars(select(Job)).one()
    assert response.headers["Location"] == f"/jobs/{job.id}"
    assert (job.status, job.result["accepted"], job.result["unmatched"]) == ("done", 1, 1)
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert f'href="/runs/{job.result["run_id"]}"' in page
    run = session.get(IngestRun, job.result["run_id"])
    assert (run.source_name, run.started_by) == ("tickets.ndjson", "upload:tickets.ndjson")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"connector": "nope"}, "Pick the system the file comes from."),
        ({"connector": "tickets"}, "Choose a file"),
        ({"connector": "tickets", "empty": True}, "is empty: nothing to import."),
    ],
)
def test_an_import_without_what_it_needs_says_what_is_missing(client, session, form, message):
    data = {"connector": form["connector"]}
    if form.get("empty"):
        data["file"] = (io.BytesIO(b""), "empty.csv")
    response = client.post("/runs/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert session.scalars(select(Job)).all() == []
