"""/api/v1: identities, unmatched records, ingest runs and file ingest."""

from flask import current_app, jsonify, request
from flask.views import MethodView
from sqlalchemy import select

from connectors import registry, review, run_review
from connectors.pipeline import Pipeline
from connectors.readers import UnreadableInput, safe_filename
from connectors.schemas import (
    IdentityMappingSchema,
    InboxRecordPage,
    IngestFileUpload,
    IngestRunArgs,
    IngestRunDetailSchema,
    IngestRunPage,
    IngestRunRecordArgs,
    IngestSummarySchema,
    MapIdentityBody,
    MappedIdentityArgs,
    MappedIdentityPage,
    ReplayEdit,
    ReplayResultSchema,
    UnmatchedArgs,
    UnmatchedPageSchema,
    UnmatchedRecordArgs,
)
from connectors.tasks import queue_payload
from crm.accounts.operations import audit
from crm.accounts.requester import current_user_or_none
from crm.api import ID, ApiBlueprint, abort
from crm.extensions import db
from crm.identities import IdentityConflict
from crm.jobs.schemas import JobSchema
from crm.models import Client, InboxRecord, IngestRun

blp = ApiBlueprint("ingest_api", __name__, description="Identities, unmatched records, ingest")


def _client(slug: str, field: str = "client") -> Client:
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        abort(404, f"{field}: no client with slug {slug!r}", field=field)
    return client


@blp.route("/identities")
class Identities(MethodView):
    @blp.arguments(MappedIdentityArgs, location="query")
    @blp.response(200, MappedIdentityPage)
    @blp.alt_response(404, description="No client has the slug given as `client`")
    def get(self, args):
        """How other systems name our clients, by system then key."""
        client = _client(args["client"]) if "client" in args else None
        return review.mapped_identities(
            db.session, args.get("system"), client, args["page"], args["per_page"]
        )

    @blp.arguments(MapIdentityBody)
    @blp.response(200, IdentityMappingSchema)
    @blp.alt_response(404, description="No client with that slug")
    @blp.alt_response(409, description="The identity already belongs to another client")
    @blp.alt_response(422, description="Invalid input, or a public mail domain")
    def post(self, data):
        """Map system+key to a client and replay the records waiting for it."""
        client = _client(data["client"])
        try:
            mapping = review.map_and_replay(
                db.session,
                data["system"],
                data["key"],
                client,
                started_by=f"api:identities {data['system']} {data['key']}",
                via="api",
            )
        except IdentityConflict as conflict:
            db.session.rollback()
            abort(409, str(conflict), field="key")
        except review.UnmappableHint as refused:
            abort(422, f"key: {refused}", field="key")
        db.session.commit()
        return {"identity": mapping.identity, "replay": mapping, "message": mapping.describe()}


@blp.route("/unmatched")
@blp.arguments(UnmatchedArgs, location="query")
@blp.response(200, UnmatchedPageSchema)
def unmatched(args):
    """Unmatched records grouped by the identity they name, with suggested clients."""
    groups = review.unmatched_groups(
        db.session, args["page"], args["per_page"], args.get("system"), args.get("q")
    )
    return groups.as_dict() | {"waiting": review.waiting_records(db.session)}


@blp.route("/unmatched/records")
@blp.arguments(UnmatchedRecordArgs, location="query")
@blp.response(200, InboxRecordPage)
def unmatched_records(args):
    """Unmatched records one by one, oldest first."""
    return review.unmatched_records(
        db.session,
        system=args.get("system"),
        key=args.get("key"),
        connector=args.get("connector"),
        page=args["page"],
        per_page=args["per_page"],
    )


@blp.route("/runs")
@blp.arguments(IngestRunArgs, location="query")
@blp.response(200, IngestRunPage)
def runs(args):
    """Ingest runs, newest first."""
    return run_review.ingest_runs(db.session, args["page"], args["per_page"], args.get("connector"))


@blp.route(f"/runs/<{ID}:run_id>")
@blp.arguments(IngestRunRecordArgs, location="query")
@blp.response(200, IngestRunDetailSchema)
@blp.alt_response(404, description="No such run")
def run(args, run_id: int):
    """One run with its counts and its inbox records (all, or of one `status`)."""
    found = db.session.get(IngestRun, run_id)
    if found is None:
        abort(404, f"no ingest run {run_id}")
    records = run_review.run_records(
        db.session, run_id, args.get("status"), args["page"], args["per_page"]
    )
    return {
        "run": found,
        "inbox": run_review.inbox_counts(db.session, run_id),
        "records": records,
    }


@blp.route(f"/inbox/<{ID}:record_id>/replay", methods=["POST"])
@blp.arguments(ReplayEdit)
@blp.response(200, ReplayResultSchema)
@blp.alt_response(404, description="No such inbox record")
@blp.alt_response(409, description="The record already went in")
def replay(data, record_id: int):
    """Replay one inbox record, after replacing its stored JSON with `record` if given."""
    row = db.session.get(InboxRecord, record_id)
    if row is None:
        abort(404, f"no inbox record {record_id}")
    try:
        replay_run = run_review.replay_record(
            db.session, row, f"api:inbox {record_id} replay", edited=data.get("record"), via="api"
        )
    except run_review.NotReplayable as error:
        abort(409, str(error), field=error.field)
    db.session.commit()
    return {"outcome": run_review.outcome_of(replay_run), "record": row, "run": replay_run}


@blp.before_request
def _refuse_too_large_uploads():
    """An upload over MAX_CONTENT_LENGTH (TOUCHLINE_MAX_UPLOAD_BYTES) gets 413
    from its Content-Length, before a byte of it is read. Werkzeug would
    refuse it as well, but only once the form is parsed, in words that name
    neither the field nor the limit."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    length = request.content_length
    if request.endpoint != f"{blp.name}.ingest" or limit is None or length is None:
        return
    if length > limit:
        abort(
            413,
            f"file: the upload is {length} bytes; the limit is {limit} bytes "
            "(TOUCHLINE_MAX_UPLOAD_BYTES); use `flask ingest` on the server for bigger files",
            field="file",
        )


@blp.route("/ingest/<connector>", methods=["POST"])
@blp.arguments(IngestFileUpload, location="files")
@blp.response(200, IngestSummarySchema)
@blp.alt_response(400, description="The file cannot be read at all")
@blp.alt_response(404, description="No such connector")
@blp.alt_response(413, description="The upload is over TOUCHLINE_MAX_UPLOAD_BYTES")
@blp.alt_response(
    202, schema=JobSchema, description="Over TOUCHLINE_BACKGROUND_INGEST_BYTES: a job"
)
def ingest(files, connector: str):
    """Ingest a file sent as multipart field `file`.

    Its extension picks the reader (.csv, .json, .ndjson), as `flask ingest`
    does. Bad records are counted and kept in the inbox with their reasons;
    only a file that cannot be read at all is refused (400). The file name is
    kept without any directories or control characters it was sent with.
    """
    try:
        found = registry.get(connector)
    except LookupError as error:
        abort(404, str(error), field="connector")
    upload = files["file"]
    if upload.filename and len(upload.filename) > 255:
        abort(400, "file: the file name is longer than 255 characters", field="file")
    filename = safe_filename(upload.filename)
    if upload.filename and filename is None:
        abort(400, f"file: {upload.filename!r} is not a usable file name", field="file")
    pipeline = Pipeline(db.session, current_app.config["INGEST_BATCH_SIZE"])
    content = upload.read()
    if len(content) > current_app.config["BACKGROUND_INGEST_BYTES"]:
        return _ingest_in_background(pipeline, found, content, filename)
    try:
        done = pipeline.ingest(found, content, filename, started_by=f"api:{filename}")
    except UnreadableInput as error:
        abort(400, f"file: cannot read {filename}: {error}", field="file")
    detail = {"file": filename, "run_id": done.id, "status": done.status}
    audit(db.session, "ingest.file", "connector", connector, detail)
    db.session.commit()
    return done.summary()


def _ingest_in_background(pipeline: Pipeline, connector, content: bytes, filename):
    """A big file: stored now, ingested by a job; 202 with the job to follow
    at /api/v1/jobs/<id> (already finished when there is no broker)."""
    payload = pipeline.store_payload(connector, content, filename)
    user = current_user_or_none()
    job = queue_payload(payload, "ingest", user.email, f"api:{filename}"[:120])
    detail = {"file": filename, "job_id": job.id, "status": job.status}
    audit(db.session, "ingest.file", "connector", connector.name, detail)
    db.session.commit()
    return jsonify(JobSchema().dump(job)), 202
