"""`POST /webhooks/<connector>`: vendors push records to the shared pipeline.

Order matters: the signature is checked on the raw bytes first (a bad one
gets 401 and nothing is stored), then the body is stored as a raw payload,
committed, and only then processed, by a background job (connectors.tasks):
the answer is 202 with the job's id as soon as the body and its job are
committed. Each sender proves itself its own way (connectors.senders).
Without a broker (no REDIS_URL) the job runs in the request and the answer
is the run's summary (200), or 400 for a body that cannot be read.
A failed run keeps the body, and the sender's retry (Stripe retries for days)
processes it again. A delivery whose body was already processed, or is being
processed, answers without a second run.
"""

from flask import Blueprint, Response, after_this_request, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors import registry, senders
from connectors.pipeline import Pipeline
from connectors.signatures import Delivery, SignatureError
from connectors.tasks import ingest_payload, queue_payload
from crm.extensions import db
from crm.heartbeat import INTERRUPTED
from crm.jobs import operations as jobs
from crm.jobs.celery import enqueue
from crm.models import IngestRun, RawPayload

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _problem(status: int, message: str):
    return jsonify({"error": message}), status


@bp.get("/<name>")
def check_url(name: str):
    """A sender's check that its webhook URL answers before it saves it
    (Mailchimp's validator GETs it): 200 and nothing stored, for a sender
    that does so, once the request proves itself as a delivery would."""
    try:
        connector = registry.get(name)
    except LookupError as error:
        return _problem(404, str(error))
    if not connector.webhook_answers_get:
        return _problem(405, f"{name} webhooks are POSTed")
    try:
        senders.authenticate(name, Delivery(b"", dict(request.headers), "GET", request.url))
    except SignatureError as error:
        return _problem(401, str(error))
    return "", 200


@bp.post("/<name>")
def receive(name: str):
    """The answer is the sender's own where it expects one (Salesforce's
    SOAP acknowledgement), else JSON."""
    answer, sender = _receive(name), senders.sender(name)
    return sender.answer(answer) if sender.answer else answer


def _receive(name: str):
    try:
        connector = registry.get(name)
    except LookupError as error:
        return _problem(404, str(error))
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return _problem(413, f"body is {request.content_length} bytes; the limit is {limit}")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _problem(413, f"body is over the limit of {limit} bytes")
    delivery = Delivery(body, dict(request.headers), request.method, request.url)
    try:
        senders.authenticate(name, delivery)
    except SignatureError as error:
        return _problem(401, str(error))
    if connector.webhook_handshake(body):
        return "", 200
    if connector.webhook_empty_answer:
        after_this_request(_empty_ok)

    body_name = _body_name()
    mismatch = _declared_wrongly(body, body_name)
    if mismatch:
        return _problem(415, mismatch)
    payload = Pipeline(db.session).store_payload(connector, body, body_name)
    done = _finished_run_for(payload)
    if done is not None:
        return jsonify({"status": "duplicate", "run_id": done}), 200
    key = delivery_key(payload)
    job = jobs.job_for_key(db.session, key)
    if job is not None and job.shown_status not in ("failed", INTERRUPTED):
        return _accepted(job, "duplicate")  # the first delivery's job is on it
    if job is not None:
        # The sender's retry of a body that failed, or whose worker died
        # with no other to take it over: the job resumes its run.
        jobs.requeue(db.session, job)
        db.session.commit()
        enqueue(ingest_payload, job.id)
    else:
        try:
            job = queue_payload(payload, "webhook", f"webhook:{name}", f"webhook:{name}", key)
        except IntegrityError:  # the same body, delivered twice at once
            db.session.rollback()
            return _accepted(jobs.job_for_key(db.session, key), "duplicate")
    return _answer(job)


def _empty_ok(response):
    """A sender that accepts only `200` with no body (Xero) gets that for
    any delivery taken in (stored, queued or run); errors stay as they are."""
    return Response(status=200) if response.status_code in (200, 202) else response


def delivery_key(payload: RawPayload) -> str:
    """The job of a delivered body: one per connector, format and bytes, so a
    body delivered again joins its first delivery's job."""
    return f"webhook:{payload.connector}:{payload.media_type}:{payload.sha256}"


def _accepted(job, status: str = "queued"):
    return jsonify(
        {"status": status, "job_id": job.id, "payload_id": job.params["payload_id"]}
    ), 202


def _answer(job):
    """202 with the job while it waits for a worker. Without a broker the job
    ran in this request: the answer is then the run's, as it always was."""
    if not job.finished:
        return _accepted(job)
    run_id = (job.result or {}).get("run_id")
    run = db.session.get(IngestRun, run_id) if run_id else None
    if job.status == "done" and run is not None:
        return jsonify(run.summary()), 200
    if run is not None and run.status == "failed":
        return _problem(400, run.error)
    return _problem(500, f"job {job.id} failed: {job.error}")


# The body's Content-Type picks the reader, as a file's extension does; without
# one, the connector's own default format applies.
_MEDIA_TYPES = {
    "application/json": "body.json",
    "application/x-ndjson": "body.ndjson",
    "application/jsonl": "body.ndjson",
    "text/csv": "body.csv",
}


def _body_name() -> str | None:
    return _MEDIA_TYPES.get(request.mimetype)


def _declared_wrongly(body: bytes, body_name: str | None) -> str | None:
    """Why the body cannot be what its Content-Type says, when it evidently
    is not: a JSON object or array sent as CSV would be read as a header and
    no record, and its sender told all went well."""
    if body_name is None or not body_name.endswith(".csv"):
        return None
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start in (b"{", b"["):
        return (
            "the body is JSON but was sent as text/csv: send it again as application/json "
            "(or application/x-ndjson, one object a line)"
        )
    return None


def _finished_run_for(payload: RawPayload) -> int | None:
    """The run that already read this payload to the end, if any."""
    return db.session.scalar(
        select(IngestRun.id)
        .where(IngestRun.payload_id == payload.id, IngestRun.status == "finished")
        .limit(1)
    )
