"""Which jobs a person may see: the ones they started; an admin sees all of them
(webhook deliveries and other jobs no person started among them)."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.jobs.models import Job
from crm.paging import Page

SEES_ALL_JOBS = "admin"


def _visible(user: User):
    query = select(Job)
    if SEES_ALL_JOBS not in user.roles:
        query = query.where(Job.started_by == user.email)
    return query


def visible_jobs(
    session: Session, user: User, page: int = 1, per_page: int = 50, status: str | None = None
) -> Page[Job]:
    """The jobs `user` may see, newest first."""
    query = _visible(user)
    if status:
        query = query.where(Job.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(Job.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(items), page, per_page, total)


def visible_job(session: Session, user: User, job_id: int) -> Job | None:
    """The job, or None when there is none or `user` may not see it (the same
    answer for both, so ids of others' jobs are not revealed)."""
    return session.scalar(_visible(user).where(Job.id == job_id))
