"""Jobs in JSON (/api/v1/jobs) and the list's query string."""

from marshmallow import fields, validate

from crm.jobs.models import STATUSES
from crm.paging import PageArgs, page_schema
from crm.schemas import WatchedRunSchema, shown_status


class JobSchema(WatchedRunSchema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    status = shown_status(STATUSES, "its next delivery takes it over and resumes it")
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Integer(allow_none=True)
    result = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    download_url = fields.Method("_download_url", allow_none=True)

    def _download_url(self, job):
        from flask import url_for

        if job.status != "done" or not (job.result or {}).get("file"):
            return None
        return url_for("jobs.download", job_id=job.id)


class JobListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))


JobPageSchema = page_schema(JobSchema, "JobPage")
