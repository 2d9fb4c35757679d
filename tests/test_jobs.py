"""Background jobs in-process (no REDIS_URL): webhooks and big files become
jobs, run twice without duplicates, retry transient errors, and show at
/jobs and /api/v1/jobs to whoever started them (admins: all)."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from connectors import registry
from connectors.pipeline import Pipeline
from connectors.pipeline import core as pipeline_core
from connectors.signatures import sign_hmac
from connectors.tasks import ingest_payload
from connectors.webhooks import delivery_key
from crm.accounts.models import User
from crm.extensions import db
from crm.jobs import operations, runner
from crm.jobs.celery import enqueue
from crm.jobs.models import Job
from crm.models import Event, InboxRecord, IngestRun
from crm.models.types import utcnow
from tests.factories import event, make_client
from tests.helpers import wait_for

SECRET = "tickets-secret"


@pytest.fixture
def signed(app):
    app.config["WEBHOOK_SECRETS"] = {"tickets": SECRET}
    make_client("acme", identities=[("account", "AC-1")])


def deliver(client, records):
    body = json.dumps(records).encode()
    headers = {"Content-Type": "application/json", "X-Touchline-Signature": sign_hmac(SECRET, body)}
    return client.post("/webhooks/tickets", data=body, headers=headers)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def tickets(n: int, prefix: str = "z") -> list[dict]:
    return [event(f"{prefix}{i}", "ticket.opened", i, account="AC-1") for i in range(n)]


def test_without_redis_tasks_run_in_process(app):
    conf = app.extensions["celery"].conf
    assert app.config["REDIS_URL"] is None
    assert conf.task_always_eager and conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1


def test_a_webhook_is_processed_by_a_job(client, signed):
    response = deliver(client, tickets(3))
    assert response.status_code == 200 and response.json["accepted"] == 3
    job = db.session.scalars(select(Job)).one()
    assert (job.kind, job.status, job.started_by) == ("webhook", "done", "webhook:tickets")
    assert job.done == 3 and job.result["run_id"] == response.json["run_id"]
    shown = client.get(f"/api/v1/jobs/{job.id}").json
    assert shown["status"] == "done" and shown["result"]["accepted"] == 3


def test_a_delivery_whose_job_is_still_queued_answers_202_without_a_second_run(client, signed):
    body = json.dumps(tickets(1)).encode()
    payload = Pipeline(db.session).store_payload(registry.get("tickets"), body, "body.json")
    key = delivery_key(payload)
    queued = operations.create_job(
        db.session,
        "webhook",
        "webhook:tickets",
        params={"payload_id": payload.id},
        idempotency_key=key,
    )
    db.session.commit()
    response = deliver(client, tickets(1))
    assert response.status_code == 202
    assert response.json == {"status": "duplicate", "job_id": queued.id, "payload_id": payload.id}
    assert (count(IngestRun), count(Event), count(Job)) == (0, 0, 1)


def test_an_unreadable_body_fails_its_job_and_answers_400(client, signed):
    body = b'[{"id": "z1",'
    headers = {"Content-Type": "application/json", "X-Touchline-Signature": sign_hmac(SECRET, body)}
    response = client.post("/webhooks/tickets", data=body, headers=headers)
    assert response.status_code == 400 and "not valid JSON" in response.json["error"]
    job = db.session.scalars(select(Job)).one()
    assert job.status == "failed" and "not valid JSON" in job.error
    assert db.session.get(IngestRun, job.result["run_id"]).status == "failed"


def test_a_file_over_the_threshold_is_ingested_by_a_job(app, client, signed):
    app.config["BACKGROUND_INGEST_BYTES"] = 100
    records = [*tickets(120), {"id": "bad", "kind": "no.such.kind", "occurred_at": "x"}]
    data = "\n".join(json.dumps(record) for record in records).encode()
    response = client.post(
        "/api/v1/ingest/tickets", data={"file": (io.BytesIO(data), "big.ndjson")}
    )
    assert response.status_code == 202, response.json
    assert (
        response.json["status"] == "done"
        and response.json["started_by"] == "everyone@touchline.test"
    )
    job = db.session.get(Job, response.json["id"])
    assert (job.kind, job.done, job.result["accepted"], job.result["rejected"]) == (
        "ingest",
        121,
        120,
        1,
    )
    assert count(Event) == 120
    # the record that failed for its own reasons is in the inbox, not retried
    assert db.session.scalars(select(InboxRecord.status)).all() == ["rejected"]
    page = client.get("/jobs").get_data(as_text=True)
    assert f"Ingest run #{job.result['run_id']}" in page and "big.ndjson" in page


def test_a_small_file_is_still_ingested_in_the_request(client, signed):
    data = json.dumps(tickets(2)).encode()
    response = client.post("/api/v1/ingest/tickets", data={"file": (io.BytesIO(data), "a.json")})
    assert response.status_code == 200 and response.json["accepted"] == 2
    assert count(Job) == 0


def _queued_ingest(records, started_by="someone@touchline.test") -> Job:
    body = json.dumps(records).encode()
    payload = Pipeline(db.session).store_payload(registry.get("tickets"), body, "body.json")
    job = operations.create_job(
        db.session, "ingest", started_by, params={"payload_id": payload.id, "started_by": "test"}
    )
    db.session.commit()
    return job


def test_a_task_delivered_twice_changes_nothing_the_second_time(app, signed):
    job = _queued_ingest(tickets(5))
    enqueue(ingest_payload, job.id)
    enqueue(ingest_payload, job.id)
    assert (job.status, count(Event), count(IngestRun)) == ("done", 5, 1)


def test_a_job_whose_worker_died_mid_batch_resumes_its_run(app, signed, monkeypatch):
    """What a worker killed after its second batch leaves: the job and its run
    `running`, 100 records committed. The next delivery, once the heartbeat
    has stopped, goes on from record 101 with the same run."""
    app.config["INGEST_BATCH_SIZE"] = 50
    job = _queued_ingest(tickets(120))
    real_commit, commits = pipeline_core.commit_batch, []

    def killed_after_two_batches(session, run_id, batch):
        real_commit(session, run_id, batch)
        commits.append(run_id)
        if len(commits) == 2:
            raise KeyboardInterrupt("kill -9")  # nothing after this runs in a killed process

    monkeypatch.setattr(pipeline_core, "commit_batch", killed_after_two_batches)
    monkeypatch.setattr(pipeline_core, "fail", lambda session, run, error: None)
    monkeypatch.setattr(runner, "_fail", lambda job_id, message, result=None: None)
    with pytest.raises(KeyboardInterrupt):
        enqueue(ingest_payload, job.id)
    monkeypatch.undo()
    db.session.rollback()
    run = db.session.scalars(select(IngestRun)).one()
    assert (job.status, run.status, run.total, count(Event)) == ("running", "running", 100, 100)

    enqueue(ingest_payload, job.id)  # too soon: the heartbeat is fresh, another may be on it
    db.session.refresh(job)
    assert job.status == "running" and job.shown_status == "running"
    stale = utcnow() - timedelta(hours=1)
    db.session.execute(update(Job).values(heartbeat_at=stale))
    db.session.execute(update(IngestRun).values(heartbeat_at=stale))
    db.session.commit()
    assert job.shown_status == run.shown_status == "interrupted"

    enqueue(ingest_payload, job.id)
    db.session.refresh(job)
    db.session.refresh(run)
    assert job.status == "done" and (job.done, job.total) == (120, None)
    assert (run.status, run.total, run.accepted, run.duplicate) == ("finished", 120, 120, 0)
    assert job.result["accepted"] == 120 and job.result["run_id"] == run.id
    assert (count(Event), count(IngestRun), count(InboxRecord)) == (120, 1, 0)


def test_a_transient_database_error_is_retried(app, signed, monkeypatch):
    job = _queued_ingest(tickets(2))
    real, calls = Pipeline.ingest_payload, []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "ingest_payload", flaky)
    enqueue(ingest_payload, job.id)
    db.session.refresh(job)
    assert len(calls) == 2 and job.status == "done" and count(Event) == 2


def test_each_sees_their_own_jobs_and_an_admin_sees_all(app, login_as, api_as, signed):
    staff = login_as("staff")
    mine = _queued_ingest(tickets(1), started_by="staff-mine@touchline.test")
    theirs = _queued_ingest(tickets(1, "y"), started_by="other@touchline.test")
    user = db.session.scalars(select(User).where(User.email.like("staff-%"))).one()
    mine.started_by = user.email
    db.session.commit()
    assert staff.get(f"/jobs/{mine.id}").status_code == 200
    assert staff.get(f"/jobs/{theirs.id}").status_code == 404
    listed = staff.get("/jobs").get_data(as_text=True)
    assert f"#{mine.id}" in listed and f"#{theirs.id}" not in listed
    api = api_as("executive")
    assert api.get("/api/v1/jobs").json["total"] == 0
    assert api.get(f"/api/v1/jobs/{theirs.id}").status_code == 404
    admin = api_as("admin")
    assert [item["id"] for item in admin.get("/api/v1/jobs").json["items"]] == [theirs.id, mine.id]


# --- batches of briefings ------------------------------------------------------------


def test_a_batch_of_briefings_as_a_job_shows_progress_and_offers_the_zip(app, client, tmp_path):
    app.config["JOB_FILES_DIR"] = str(tmp_path)
    make_client("alpha", name="Alpha Dental", tier="key")
    make_client("beta", name="Beta Logistics", tier="key")
    make_client("gamma", name="Gamma Retail", tier="standard")
    form = {"tier": "key", "date": "2026-11-20", "format": "zip"}
    response = client.post("/briefings/jobs", data=form)
    assert response.status_code == 303
    job = wait_for(db.session.scalars(select(Job)).one().id, lambda job: job.finished, 60)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert (job.kind, job.status, job.done, job.total) == ("briefings", "done", 2, 2)
    assert (
        "Key clients" in page
        and 'value="2"' in page
        and "Download briefings-key-2026-11-20.zip" in page
    )
    download = client.get(f"/jobs/{job.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    data = download.data
    download.close()  # the response holds the file open until closed
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert len(names) == 2 and all(name.endswith(".pdf") for name in names)
    assert client.get("/api/v1/jobs").json["items"][0]["download_url"] == f"/jobs/{job.id}/download"


def test_a_batch_job_with_nothing_to_make_is_refused(client):
    make_client("alpha", tier="key")
    response = client.post("/briefings/jobs", data={"tier": "problem", "format": "zip"})
    assert response.status_code == 400 and "There is nothing to make" in response.get_data(
        as_text=True
    )
    assert client.post("/briefings/jobs", data={"tier": "key", "format": "tar"}).status_code == 400
    assert count(Job) == 0


def test_a_download_of_an_unfinished_or_foreign_job_is_404(client, login_as):
    job = _queued_ingest([])
    assert client.get(f"/jobs/{job.id}/download").status_code == 404
    assert login_as("manager").get(f"/jobs/{job.id}").status_code == 404


# --- replaying many waiting records ----------------------------------------------------


def _unmatched(n: int) -> None:
    body = json.dumps([event(f"u{i}", "ticket.opened", i, account="AC-9") for i in range(n)])
    Pipeline(db.session, 2).ingest(registry.get("tickets"), body.encode(), "u.json", "test")


def test_mapping_an_identity_many_records_wait_for_replays_them_in_a_job(app, client, signed):
    app.config["BACKGROUND_REPLAY_RECORDS"] = 2
    _unmatched(5)
    response = client.post(
        "/api/v1/identities", json={"system": "account", "key": "AC-9", "client": "acme"}
    )
    assert response.status_code == 200, response.json
    assert "5 records replayed onto" in response.json["message"]
    job = db.session.scalars(select(Job)).one()
    assert (job.kind, job.status, job.total, job.started_by) == (
        "replay", "done", 5, "everyone@touchline.test"
    )  # fmt: skip
    assert job.result["replayed"] == 5 and job.result["still_waiting"] == 0
    assert count(Event) == 5


def test_a_few_waiting_records_are_replayed_in_the_request(app, client, signed):
    _unmatched(2)
    response = client.post(
        "/api/v1/identities", json={"system": "account", "key": "AC-9", "client": "acme"}
    )
    assert response.status_code == 200 and count(Event) == 2 and count(Job) == 0


def test_the_jobs_page_filters_by_status_and_refuses_a_bad_one(client, signed):
    deliver(client, tickets(1))
    job = db.session.scalars(select(Job)).one()
    assert f"#{job.id}<" in client.get("/jobs?status=done").get_data(as_text=True)
    assert "No jobs yet" in client.get("/jobs?status=failed").get_data(as_text=True)
    refused = client.get("/jobs?status=lost")
    assert refused.status_code == 400 and "status" in refused.get_data(as_text=True)
