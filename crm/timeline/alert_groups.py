"""Open alerts grouped by check and device, for views that cannot list them one by one.

A client whose monitoring misfires can hold ten thousand open alerts; a card
or a briefing that named each would run to megabytes. Grouped by the check
(the thread's category, which the connectors fill with the alert name, else
its title) and the device (the thread's `device`: attribute `instance` of its
latest event naming one, stored when the pipeline folds the thread), they
come to a handful of lines with counts, the critical ones (crm.flags) first.
The grouping is one GROUP BY over the client's open alert rows, LIMITed: no
event is read, and the answer's size is bounded whatever their number.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.flags import DEFAULT_SETTINGS, FlagSettings
from crm.models import Entity


@dataclass(frozen=True)
class AlertGroup:
    """The open alerts of one check on one device."""

    check: str
    device: str | None
    category: str | None  # what the full list filters by, when the thread has one
    count: int
    critical: int  # how many of them raise a critical_alert flag
    first_opened: datetime
    last_opened: datetime
    latest_key: str  # a thread of the group to open

    @property
    def title(self) -> str:
        return f"{self.check} on {self.device}" if self.device else self.check


class AlertGroups(NamedTuple):
    """The first groups of a client's open alerts, and what all of them hold."""

    groups: list[AlertGroup]
    total: int  # groups
    alerts: int  # open alerts
    critical: int  # of which raise a critical_alert flag (crm.flags)


def alert_groups(
    session: Session,
    client_id: int,
    now: datetime,
    limit: int,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> AlertGroups:
    """The first `limit` (at least 1) groups of the client's open alerts (those
    with critical alerts first, then the biggest, then the oldest), how many
    groups there are, and how many open and critical alerts in all of them."""
    # The device is the thread's own (crm.threads.device_of, set when the
    # pipeline folds the thread): grouping reads the open alerts' rows alone.
    alerts = (
        select(
            func.coalesce(Entity.category, Entity.title, Entity.key).label("check_"),
            Entity.category,
            Entity.device,
            Entity.key,
            Entity.opened_at,
            case((rules.kind_sql("critical_alert", now, settings), 1), else_=0).label("critical"),
        )
        .where(Entity.client_id == client_id, Entity.type == "alert", Entity.closed_at.is_(None))
        .subquery()
    )
    count, critical = func.count(), func.sum(alerts.c.critical)
    # How many groups, alerts and critical alerts there are ride along on each
    # row (a window over the groups): asked apart, each would read every open
    # alert again.
    rows = session.execute(
        select(
            alerts.c.check_,
            alerts.c.device,
            func.max(alerts.c.category),
            count,
            critical,
            func.min(alerts.c.opened_at),
            func.max(alerts.c.opened_at),
            func.max(alerts.c.key),
            func.count().over().label("groups"),
            func.sum(count).over().label("alerts"),
            func.sum(critical).over().label("critical_alerts"),
        )
        .group_by(alerts.c.check_, alerts.c.device)
        .order_by(critical.desc(), count.desc(), func.min(alerts.c.opened_at), alerts.c.check_)
        .limit(limit)
    ).all()
    if not rows:
        return AlertGroups([], 0, 0, 0)
    groups, alerts, critical_alerts = rows[0][-3:]
    return AlertGroups(
        [AlertGroup(*row[:-3]) for row in rows], groups, int(alerts), int(critical_alerts)
    )
