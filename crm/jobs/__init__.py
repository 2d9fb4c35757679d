"""Background jobs: work that must not hold up a web request (webhook
processing, big file ingests, batches of PDFs), run by Celery workers on
Redis, or in-process when no REDIS_URL is set.

- models.py: the Job row (status, progress, result or error, who started it)
- operations.py: creating a job and moving it along (idempotent steps)
- runner.py: how a task runs its job (commits, failures, transient-error retries)
- celery.py: the Celery app of a Flask app; `enqueue`
- the top-level worker.py is what `celery -A worker worker` loads
- views.py, api.py: /jobs and /api/v1/jobs

Tasks live in the package that owns the work (connectors/tasks.py,
reports/briefing/tasks.py) and are sent with crm.jobs.celery.enqueue.
"""

from flask import Flask

from crm.jobs import models  # noqa: F401 - the jobs table, in the one metadata


def init_app(app: Flask) -> None:
    from crm import api
    from crm.jobs import celery
    from crm.jobs.api import blp
    from crm.jobs.views import bp

    celery.init_app(app)
    app.register_blueprint(bp)
    api.register(app, blp)
