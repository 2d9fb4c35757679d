"""The health score, one rule for every view that shows it: the directory (every
client as things stand) and the briefing (reports.briefing.numbers, which adds
the drivers: what each kind of flag cost now and in the previous period).

    score = max(0, 100 - sum over flag kinds of min(KIND_CAP, sum of the kind's flag points))

Each flag (crm.flags) costs points by its severity: critical 20, high 10,
medium 5, low 2. A kind costs at most KIND_CAP (30), so one bad area (five
overdue invoices) cannot hide the rest, and a clean account scores 100.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.flags import DEFAULT_SETTINGS, FlagSettings, Recurrence
from crm.models import Entity, Event

SEVERITY_POINTS = {"critical": 20, "high": 10, "medium": 5, "low": 2}
KIND_CAP = 30
FULL_HEALTH = 100


def tone(value: int) -> str:
    """good, fair or poor: how a score is coloured wherever it is shown."""
    return "good" if value >= 80 else "fair" if value >= 50 else "poor"


def kind_points(severities: Iterable[str]) -> int:
    """What the flags of one kind cost together, capped."""
    return min(KIND_CAP, sum(SEVERITY_POINTS[severity] for severity in severities))


def score(points_per_kind: Iterable[int]) -> int:
    """The score from what each kind of flag costs (kind_points)."""
    return max(0, FULL_HEALTH - sum(points_per_kind))


def score_of(flags: Iterable[tuple[str, str]]) -> int:
    """The score of a set of (kind, severity) flags."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, severity in flags:
        by_kind[kind].append(severity)
    return score(kind_points(severities) for severities in by_kind.values())


def current_scores(
    session: Session,
    client_ids: list[int] | None,
    now: datetime,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> dict[int, int]:
    """Each client's score at `now` from the flags raised then (its flagged
    threads, as crm.flags reads them, and its recurring alerts): two queries
    for any number of clients. `client_ids` None: the clients with a flag
    (any other scores FULL_HEALTH)."""
    if client_ids is not None and not client_ids:
        return {}
    threads_of = [Entity.client_id.in_(client_ids)] if client_ids is not None else []
    events_of = [Event.client_id.in_(client_ids)] if client_ids is not None else []
    flags: dict[int, list[tuple[str, str]]] = defaultdict(list)
    threads = session.scalars(
        select(Entity).where(
            *threads_of,
            or_(*(rules.rule_sql(kind, now, settings) for kind in rules.FLAGGED_TYPES)),
        )
    )
    for thread in threads:
        raised = rules.flag_of(thread, now, settings)
        if raised is not None:
            flags[thread.client_id].append((raised.kind, raised.severity))
    recurring = rules.recurring_sql(now, *events_of).subquery()
    for (client_id,) in session.execute(select(recurring.c.client_id)):
        flags[client_id].append((Recurrence.kind, Recurrence.severity))
    ids = flags if client_ids is None else client_ids
    return {client_id: score_of(flags.get(client_id, ())) for client_id in ids}


def scores_at(
    session: Session, ids: list[int], at: datetime, settings: FlagSettings = DEFAULT_SETTINGS
) -> dict[int, int]:
    """Each client's score at a past moment `at`, from the flags raised then: a
    thread closed since was still open then (crm.flags' `present=False`), so a
    score can be compared with current_scores' (the weekly digest's falls)."""
    if not ids:
        return {}
    flags: dict[int, list[tuple[str, str]]] = defaultdict(list)
    threads = session.scalars(
        select(Entity).where(
            Entity.client_id.in_(ids),
            Entity.type.in_(rules.FLAGGED_TYPES),
            Entity.opened_at <= at,
            or_(Entity.closed_at.is_(None), Entity.closed_at > at),
        )
    )
    for thread in threads:
        raised = rules.flag_of(thread, at, settings, present=False)
        if raised is not None:
            flags[thread.client_id].append((raised.kind, raised.severity))
    recurring = rules.recurring_sql(at, Event.client_id.in_(ids)).subquery()
    for (client_id,) in session.execute(select(recurring.c.client_id)):
        flags[client_id].append((Recurrence.kind, Recurrence.severity))
    return {client_id: score_of(flags.get(client_id, ())) for client_id in ids}
