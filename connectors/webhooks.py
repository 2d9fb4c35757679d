"""`POST /webhooks/<connector>`: vendors push records to the shared pipeline.

Order matters: the signature is checked on the raw bytes first (a bad one
gets 401 and nothing is stored), then the body is stored as a raw payload,
committed, and only then processed. Processing is inline for now, but the
stored payload does not depend on it: a failed run keeps the body, and the
sender's retry (Stripe retries for days) processes it again. A delivery whose
body was already processed answers 200 and changes nothing.
"""

import hashlib

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from connectors import registry
from connectors.pipeline import Pipeline
from connectors.readers import UnreadableInput
from connectors.signatures import (
    HMAC_HEADER,
    STRIPE_HEADER,
    SignatureError,
    verify_hmac,
    verify_stripe,
)
from crm.config import WEBHOOK_SECRET_PREFIX
from crm.extensions import db
from crm.models import IngestRun, RawPayload

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _problem(status: int, message: str):
    return jsonify({"error": message}), status


@bp.post("/<name>")
def receive(name: str):
    try:
        connector = registry.get(name)
    except LookupError as error:
        return _problem(404, str(error))
    secret = current_app.config["WEBHOOK_SECRETS"].get(name)
    if not secret:
        return _problem(
            401, f"webhooks for {name} are off: set {WEBHOOK_SECRET_PREFIX}{name.upper()}"
        )
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return _problem(413, f"body is {request.content_length} bytes; the limit is {limit}")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _problem(413, f"body is over the limit of {limit} bytes")
    try:
        if connector.signature_scheme == "stripe":
            verify_stripe(secret, request.headers.get(STRIPE_HEADER), body)
        else:
            verify_hmac(secret, request.headers.get(HMAC_HEADER), body)
    except SignatureError as error:
        return _problem(401, str(error))

    done = _finished_run_for(name, body)
    if done is not None:
        return jsonify({"status": "duplicate", "run_id": done}), 200
    pipeline = Pipeline(db.session, current_app.config["INGEST_BATCH_SIZE"])
    try:
        run = pipeline.ingest(connector, body, _body_name(), started_by=f"webhook:{name}")
    except UnreadableInput as error:
        return _problem(400, str(error))
    return jsonify(run.summary()), 200


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


def _finished_run_for(connector_name: str, body: bytes) -> int | None:
    """The run that already processed these exact bytes, if any."""
    digest = hashlib.sha256(body).hexdigest()
    return db.session.scalar(
        select(IngestRun.id)
        .join(RawPayload, IngestRun.payload_id == RawPayload.id)
        .where(
            RawPayload.connector == connector_name,
            RawPayload.sha256 == digest,
            IngestRun.status == "finished",
        )
        .limit(1)
    )
