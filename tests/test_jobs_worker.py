"""Jobs through a real Celery worker on the real Redis (127.0.0.1:6379, or
TOUCHLINE_TEST_REDIS_URL): a webhook answered 202 and processed by a worker
process; a worker killed mid-ingest and another one finishing the job.

Each run uses a Redis database number and a queue of its own, so runs never
collide; the worker reads the tests' database (a SQLite file or the
PostgreSQL test database). Without Redis these tests skip, unless
TOUCHLINE_REQUIRE_REDIS=1 (CI), where they fail.
"""

import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.signatures import sign_hmac
from crm.extensions import db
from crm.jobs import celery as job_celery
from crm.models import Event, InboxRecord, IngestRun
from tests.factories import event, make_client
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent
# How long a real worker may take to start and finish a job: generous, as a
# loaded 2-core CI machine took more than 30 s to start one. A test that
# passes never waits it out; it only bounds a hang.
WORKER_WAIT = 180
SECRET = "tickets-secret"
REDIS = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(scope="module")
def redis_url():
    address = urllib.parse.urlparse(REDIS)
    try:
        socket.create_connection((address.hostname, address.port or 6379), timeout=2).close()
    except OSError as error:
        message = f"Redis is not reachable at {REDIS}: {error}"
        if os.environ.get("TOUCHLINE_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    # A database of its own (1-15; 0 is the default others use) for this run.
    return address._replace(path=f"/{random.randint(1, 15)}").geturl()


@pytest.fixture
def queued_app(app, redis_url):
    """The test app sending to Redis, on a queue no other run reads."""
    app.config["REDIS_URL"] = redis_url
    app.config["CELERY_QUEUE"] = f"touchline-test-{uuid.uuid4().hex}"
    app.config["WEBHOOK_SECRETS"] = {"tickets": SECRET}
    job_celery.init_app(app)
    make_client("acme", identities=[("account", "AC-1")])
    yield app
    app.extensions["celery"].connection_for_write().default_channel.client.delete(
        app.config["CELERY_QUEUE"]
    )


def start_worker(app, batch_size: int = 50, env: dict | None = None) -> subprocess.Popen:
    """A worker process with the app's settings; a task whose worker died is
    handed on after 2 s (the default is an hour), and taken over once its
    heartbeat is 3 s old (the default is 10 minutes)."""
    env = (
        dict(os.environ)
        | {
            "TOUCHLINE_CELERY_VISIBILITY_TIMEOUT": "2",
            "TOUCHLINE_HEARTBEAT_STALE_SECONDS": "3",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "TOUCHLINE_CELERY_QUEUE": app.config["CELERY_QUEUE"],
            "TOUCHLINE_INGEST_BATCH_SIZE": str(batch_size),
        }
        | (env or {})
    )
    command = [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "--pool=solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
        "-Q", app.config["CELERY_QUEUE"],
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if worker.poll() is None:
        worker.send_signal(sig)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_webhook_goes_through_a_real_worker(queued_app, client):
    body = json.dumps([event(f"z{i}", "ticket.opened", i, account="AC-1") for i in range(3)])
    headers = {
        "Content-Type": "application/json",
        "X-Touchline-Signature": sign_hmac(SECRET, body.encode()),
    }
    response = client.post("/webhooks/tickets", data=body, headers=headers)
    assert response.status_code == 202 and response.json["status"] == "queued"
    job_id = response.json["job_id"]
    assert count(Event) == 0  # stored, not processed: no worker yet
    again = client.post("/webhooks/tickets", data=body, headers=headers)
    assert again.status_code == 202 and again.json == response.json | {"status": "duplicate"}
    worker = start_worker(queued_app)
    try:
        job = wait_for(job_id, lambda job: job.finished, timeout=WORKER_WAIT)
    finally:
        stop(worker)
    assert job.status == "done" and job.result["accepted"] == 3, job.error
    assert (count(Event), count(IngestRun)) == (3, 1)
    assert client.get(f"/api/v1/jobs/{job_id}").json["status"] == "done"


def test_a_worker_killed_mid_ingest_leaves_the_job_to_the_next_one(queued_app, client):
    queued_app.config["BACKGROUND_INGEST_BYTES"] = 0
    records = [event(f"k{i}", "ticket.opened", i, account="AC-1") for i in range(3000)]
    data = "\n".join(json.dumps(record) for record in records).encode()
    response = client.post(
        "/api/v1/ingest/tickets", data={"file": (io.BytesIO(data), "big.ndjson")}
    )
    assert response.status_code == 202 and response.json["status"] == "queued"
    job_id = response.json["id"]
    first = start_worker(queued_app, batch_size=20)
    try:
        wait_for(job_id, lambda job: job.done > 0 or job.finished, timeout=WORKER_WAIT)
    finally:
        stop(first, signal.SIGKILL)
    interrupted = wait_for(job_id, lambda job: True)
    assert interrupted.status == "running" and interrupted.done < 3000  # killed mid-batch
    second = start_worker(queued_app, batch_size=500)
    try:
        job = wait_for(job_id, lambda job: job.finished, timeout=WORKER_WAIT)
    finally:
        stop(second)
    assert job.status == "done", job.error
    assert count(Event) == 3000
    assert db.session.scalar(select(func.count(func.distinct(Event.external_id)))) == 3000
    # The second worker resumed the first one's run: one run, counting each record once.
    runs = db.session.scalars(select(IngestRun).order_by(IngestRun.id)).all()
    assert [(run.status, run.total, run.accepted, run.duplicate) for run in runs] == [
        ("finished", 3000, 3000, 0)
    ]
    assert (job.done, job.result["accepted"], job.result["duplicate"]) == (3000, 3000, 0)
    assert count(InboxRecord) == 0


def test_a_job_redelivered_while_it_still_runs_is_run_once(queued_app, client):
    """A visibility timeout shorter than the job (2 s here) hands the message
    to a second worker while the first still runs it: the second leaves it
    to the first, and the counts describe the database. (The file stays
    under the test client's 500 KB in memory; small batches make it long.)"""
    queued_app.config["BACKGROUND_INGEST_BYTES"] = 0
    records = [event(f"r{i}", "ticket.opened", i, account="AC-1") for i in range(4000)]
    data = "\n".join(json.dumps(record) for record in records).encode()
    response = client.post(
        "/api/v1/ingest/tickets", data={"file": (io.BytesIO(data), "long.ndjson")}
    )
    job_id = response.json["id"]
    workers = [start_worker(queued_app, batch_size=4) for _ in range(2)]
    try:
        job = wait_for(job_id, lambda job: job.finished, timeout=2 * WORKER_WAIT)
    finally:
        for worker in workers:
            stop(worker)
    assert job.status == "done", job.error
    runs = db.session.scalars(select(IngestRun)).all()
    assert [(run.status, run.total, run.accepted, run.error) for run in runs] == [
        ("finished", 4000, 4000, None)
    ]
    assert (job.done, job.result["accepted"]) == (4000, 4000)
    assert (count(Event), count(InboxRecord)) == (4000, 0)


def test_a_batch_of_briefings_goes_through_a_real_worker(queued_app, client, tmp_path):
    queued_app.config["JOB_FILES_DIR"] = str(tmp_path)
    make_client("beta", name="Beta Logistics", tier="key")
    response = client.post("/briefings/jobs", data={"tier": "key", "format": "pdf"})
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "queued" in page and 'http-equiv="refresh"' in page  # reloads until it ends
    worker = start_worker(queued_app, env={"TOUCHLINE_JOB_FILES_DIR": str(tmp_path)})
    try:
        job = wait_for(job_id, lambda job: job.finished, timeout=WORKER_WAIT)
    finally:
        stop(worker)
    assert job.status == "done" and (job.done, job.total) == (1, 1), job.error
    download = client.get(f"/jobs/{job_id}/download")
    data = download.data
    download.close()
    assert download.mimetype == "application/pdf" and data.startswith(b"%PDF")
