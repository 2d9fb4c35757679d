"""Pages over the ingest: the unmatched queue (/unmatched) and runs (/runs)."""

import json
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError
from sqlalchemy import select

from connectors import registry, review, run_review
from connectors.pipeline import Pipeline
from connectors.readers import safe_filename
from connectors.schemas import IngestRunArgs, IngestRunRecordArgs, MapHintForm, UnmatchedArgs
from connectors.tasks import queue_payload
from crm.accounts.operations import audit
from crm.accounts.requester import current_user_or_none
from crm.api import ID
from crm.extensions import db
from crm.identities import IdentityConflict
from crm.models import InboxRecord, IngestRun
from crm.models.inbox import INBOX_STATUSES
from crm.models.types import json_dumps

bp = Blueprint("ingest", __name__)

# Beyond this many clients the "another client" box offers no list to pick
# from (it would outweigh the page); typing a slug or a name still works.
CLIENT_LIST_LIMIT = 1000


@bp.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    """A stored record as people read it: indented, exact numbers, any script."""
    return json.dumps(json.loads(json_dumps(value)), indent=2, ensure_ascii=False)


def _args(schema: Schema) -> dict:
    try:
        return schema.load(request.args)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        abort(400, description=f"{field}: {messages[0]}")


@bp.get("/unmatched")
def unmatched():
    args = _args(UnmatchedArgs())
    groups = review.unmatched_groups(
        db.session, args["page"], args["per_page"], args.get("system"), args.get("q")
    )
    return render_template(
        "ingest/unmatched.html",
        groups=groups,
        waiting=review.waiting_records(db.session),
        systems=review.waiting_systems(db.session),
        labels=review.SYSTEM_LABELS,
        args=args,
        client_list=review.client_choices(db.session, CLIENT_LIST_LIMIT),
        back=request.full_path,
    )


@bp.post("/unmatched/map")
def map_hint():
    back = _safe_back(request.form.get("back"))
    try:
        form = MapHintForm().load(request.form)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        flash(f"{field}: {messages[0]}", "error")
        return redirect(back)
    try:
        client = review.find_client(db.session, form["client"])
    except LookupError as error:
        flash(str(error), "error")
        return redirect(back)
    try:
        mapping = review.map_and_replay(
            db.session,
            form["system"],
            form["key"],
            client,
            started_by=f"page:unmatched map {form['system']} {form['key']}",
            via="page",
        )
    except (IdentityConflict, review.UnmappableHint) as refused:
        db.session.rollback()
        flash(f"Nothing changed: {refused}.", "error")
        return redirect(back)
    db.session.commit()
    flash(mapping.describe())
    return redirect(back)


def _safe_back(target: str | None) -> str:
    """Back to the queue page the form was on, never to another site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path == url_for("ingest.unmatched"):
            return target
    return url_for("ingest.unmatched")


@bp.get("/runs")
def runs():
    return _runs_page(_args(IngestRunArgs()))


def _runs_page(args: dict, import_errors: dict | None = None, chosen: str = ""):
    """The runs, newest first, with the import form (and what it found missing)."""
    page = run_review.ingest_runs(db.session, args["page"], args["per_page"], args.get("connector"))
    connectors = db.session.scalars(
        select(IngestRun.connector).distinct().order_by(IngestRun.connector)
    ).all()
    return render_template(
        "ingest/runs.html",
        runs=page,
        args=args,
        connectors=connectors,
        importers=registry.names(),
        import_errors=import_errors or {},
        chosen=chosen,
    )


@bp.post("/runs/import")
def import_file():
    """A file sent from the page: stored, then ingested by a job (its page
    shows the progress and, when done, links the run), as a big file sent
    to the API is; a file its connector cannot read fails the job, saying why."""
    name = request.form.get("connector", "")
    upload = request.files.get("file")
    errors = {}
    if name not in registry.names():
        errors["connector"] = "Pick the system the file comes from."
    if upload is None or not upload.filename:
        errors["file"] = "Choose a file (.csv, .json or .ndjson) or drop one here."
    filename = safe_filename(upload.filename) if upload is not None else None
    if upload is not None and upload.filename and filename is None:
        errors["file"] = "That file name cannot be kept; rename the file and send it again."
    if errors:
        return _runs_with_errors(errors), 422
    try:
        content = upload.read()
    finally:
        upload.close()
    if not content:
        return _runs_with_errors({"file": f"{filename} is empty: nothing to import."}), 422
    connector = registry.get(name)
    user = current_user_or_none()
    payload = Pipeline(db.session).store_payload(connector, content, filename)
    job = queue_payload(payload, "ingest", user.email, f"upload:{filename}"[:120])
    audit(db.session, "ingest.file", "connector", name, {"file": filename, "job_id": job.id})
    db.session.commit()
    return redirect(url_for("jobs.job", job_id=job.id))


def _runs_with_errors(errors: dict[str, str]):
    args = IngestRunArgs().load({})
    return _runs_page(args, errors, request.form.get("connector", ""))


@bp.get(f"/runs/<{ID}:run_id>")
def run(run_id: int):
    found = db.get_or_404(IngestRun, run_id, description=f"There is no ingest run {run_id}.")
    args = _args(IngestRunRecordArgs())
    counts = run_review.inbox_counts(db.session, run_id)
    status = args.get("status")
    if status is None and "status" not in request.args:
        # Open on what needs a person: the rejected records, if there are any.
        status = next((s for s in ("rejected", "unmatched") if counts.get(s)), None)
    records = run_review.run_records(db.session, run_id, status, args["page"], args["per_page"])
    return render_template(
        "ingest/run.html",
        run=found,
        counts=counts,
        statuses=INBOX_STATUSES,
        status=status,
        records=records,
        args=args,
    )


@bp.route(f"/inbox/<{ID}:record_id>", methods=["GET", "POST"])
def inbox_record(record_id: int):
    row = db.get_or_404(
        InboxRecord, record_id, description=f"There is no inbox record {record_id}."
    )
    if request.method == "GET":
        return _record_page(row)
    text = request.form.get("record", "")
    try:
        edited = run_review.parse_record(text) if text.strip() else None
        replay_run = run_review.replay_record(
            db.session, row, f"page:inbox {record_id}", edited, via="page"
        )
    except run_review.NotReplayable as error:
        db.session.rollback()
        return _record_page(row, error=str(error), text=text), 400
    outcome = run_review.outcome_of(replay_run)
    db.session.commit()
    if outcome in ("accepted", "duplicate"):
        flash(f"Inbox record {record_id} replayed: {outcome}; it is on the timeline now.")
    else:
        flash(f"Inbox record {record_id} replayed but still {outcome}: {row.reason}", "error")
    return redirect(url_for("ingest.inbox_record", record_id=record_id))


def _record_page(row: InboxRecord, error: str | None = None, text: str | None = None):
    return render_template(
        "ingest/inbox_record.html",
        row=row,
        run=db.session.get(IngestRun, row.run_id),
        replayable=row.status in run_review.REPLAYABLE,
        hint_label=review.describe_hint,
        error=error,
        text=text if text is not None else pretty_json(row.record),
    )
