"""The Celery app of a Flask app: Redis as broker and result store when
REDIS_URL is set, otherwise every task runs in-process, at once, inside the
request that asked for it (so `make run` needs nothing but the app).

Tasks are defined with `celery.shared_task` (for a job: crm.jobs.runner.job_task)
in the package that owns the work and sent with `enqueue` (a new job: `start_job`),
which picks this Flask app's Celery app, so several apps in one process (the
tests) never send each other's tasks.
"""

from celery import Celery, Task
from flask import Flask, current_app, has_app_context
from sqlalchemy import event

from crm.extensions import db
from crm.jobs import operations
from crm.jobs.models import Job


def init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        """Runs inside the Flask app's context: the database session and the settings."""

        def __call__(self, *args, **kwargs):
            if has_app_context() and current_app._get_current_object() is app:
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(settings(app.config))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def settings(config) -> dict:
    redis_url = config.get("REDIS_URL")
    queue = config.get("CELERY_QUEUE") or "touchline"
    common = {
        "task_default_queue": queue,
        # A message is acknowledged when its task ends, not when it starts: a
        # worker killed mid-task leaves it to another worker (tasks are idempotent).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One task at a time per worker process: long tasks do not hold others back.
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 7 * 24 * 3600,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    if not redis_url:
        return common | {"task_always_eager": True, "task_store_eager_result": False}
    visibility = int(config.get("CELERY_VISIBILITY_TIMEOUT") or 3600)
    return common | {
        "broker_url": redis_url,
        "result_backend": redis_url,
        # A task not acknowledged this many seconds after it was handed out
        # (its worker died) goes to another worker. Longer than any task may
        # take, or a second worker starts it while the first still runs it.
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # How often a worker looks for such tasks: kombu's default sweep
            # (every 100 s) is far longer than a short timeout.
            "unacked_restore_interval": max(1, min(10, visibility // 2)),
            "unacked_restore_throttle": 1 if visibility < 600 else 10,
        },
    }


def enqueue(task, *args) -> None:
    """Send `task` with `args` through the current app's Celery app (run it
    now when there is no broker). Commit first: the worker reads the job."""
    celery: Celery = current_app.extensions["celery"]
    celery.tasks[task.name].apply_async(args=args)


def start_job(task, kind: str, started_by: str, **job) -> Job:
    """A job of `kind` for `task` (crm.jobs.runner.job_task), committed and
    sent; `job` as crm.jobs.operations.create_job takes it."""
    created = operations.create_job(db.session, kind, started_by, **job)
    db.session.commit()
    enqueue(task, created.id)
    return created


def run_here(task, *args):
    """Run `task` now, in this thread, as this app's Celery app knows it. Not
    the task object itself: a shared task belongs to whichever Celery app was
    made last, whose Flask app (and settings: the folder for job files, the
    database) may be another one when a process holds several (the tests)."""
    celery: Celery = current_app.extensions["celery"]
    return celery.tasks[task.name].apply(args=args)


def enqueue_after_commit(session, task, *args) -> None:
    """Send `task` once the caller commits, for work queued in the middle of a
    unit of work whose rows the worker must see. Without a broker the task
    runs now, in this transaction, as the work would have run inline."""
    celery: Celery = current_app.extensions["celery"]
    if celery.conf.task_always_eager:
        session.flush()
        enqueue(task, *args)
        return
    target = celery.tasks[task.name]
    # A rollback instead leaves the message unsent until the next commit,
    # which finds no job (rolled back with the rest) and does nothing.
    event.listen(session, "after_commit", lambda _: target.apply_async(args=args), once=True)
