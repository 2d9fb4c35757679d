"""/api/v1/jobs: background jobs, as /jobs shows them."""

from crm.accounts.requester import current_user_or_none
from crm.api import ID, ApiBlueprint, abort
from crm.extensions import db
from crm.jobs.queries import visible_job, visible_jobs
from crm.jobs.schemas import JobListArgs, JobPageSchema, JobSchema

blp = ApiBlueprint("jobs_api", __name__, description="Background jobs")


@blp.route("/jobs")
@blp.arguments(JobListArgs, location="query")
@blp.response(200, JobPageSchema)
def jobs(args):
    """Jobs newest first: the ones you started (an admin sees every job)."""
    page = visible_jobs(db.session, current_user_or_none(), **args)
    return page


@blp.route(f"/jobs/<{ID}:job_id>")
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job, or not one of yours")
def job(job_id: int):
    """One job: status, progress (done of total), its result or error."""
    found = visible_job(db.session, current_user_or_none(), job_id)
    if found is None:
        abort(404, f"no job {job_id}")
    return found
