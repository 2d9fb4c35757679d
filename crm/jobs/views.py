"""/jobs: background jobs newest first, and each job's page with its progress
and, once made, its file to download."""

import os

from flask import Blueprint, abort, render_template, request, send_file
from marshmallow import ValidationError

from crm.accounts.requester import current_user_or_none
from crm.api import ID
from crm.extensions import db
from crm.jobs.files import path_for
from crm.jobs.queries import visible_job, visible_jobs
from crm.jobs.schemas import JobListArgs

bp = Blueprint("jobs", __name__)


@bp.get("/jobs")
def jobs():
    try:
        args = JobListArgs().load(request.args)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        abort(400, description=f"{field}: {' '.join(messages)}")
    page = visible_jobs(db.session, current_user_or_none(), **args)
    return render_template("jobs/jobs.html", page=page, status=args.get("status"))


@bp.get(f"/jobs/<{ID}:job_id>")
def job(job_id: int):
    found = visible_job(db.session, current_user_or_none(), job_id)
    if found is None:
        abort(404)
    return render_template("jobs/job.html", job=found)


@bp.get(f"/jobs/<{ID}:job_id>/download")
def download(job_id: int):
    found = visible_job(db.session, current_user_or_none(), job_id)
    relative = (found.result or {}).get("file") if found and found.status == "done" else None
    path = path_for(relative) if relative else None
    if path is None or not os.path.exists(path):
        abort(404)
    return send_file(
        path,
        mimetype=found.result.get("media_type", "application/octet-stream"),
        as_attachment=True,
        download_name=found.result.get("download_name") or os.path.basename(path),
    )
