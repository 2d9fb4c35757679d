"""The portfolio's open flags: each client's counts, and the most severe few.

Open flags are read as things stand at `now`, whatever the period: the
thread states hold the present, not the past. They are crm.flags' one
definition, as the directory, the card and the briefing read it.

A portfolio of 10,000 clients holds tens of thousands of flagged threads;
reading each into Python to name, rank and count it cost seconds. So the
database does both: **counts** are aggregates per client and flag
(crm.flags.kind_sql, and the rules' grouping of the last 30 days' alerts for
the recurring ones), and the **list** is the FLAGS_LISTED most severe,
ranked in SQL by crm.flags.ranking (the same rank as crm.flags.rank) and
LIMITed; only those few are named in Python (crm.flags.flag_of, for their
labels). A recurring alert is high and counts from its first occurrence; its
latest occurrence's thread stands for it.
"""

from datetime import datetime

import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.flags import DEFAULT_SETTINGS, FlagSettings
from crm.flags.ranking import most_severe
from crm.models import Client, Entity

# The page, the PDF and the API list this many flags, most severe first; the
# rest are counted (each client's in the CSV) and listed, paged, in the
# client directory's flagged view.
FLAGS_LISTED = 100
# crm.flags' flags, in the order it reads them (most pressing first): a
# client's count of each.
FLAG_COLUMNS = tuple(rules.KINDS)
FLAG_THREAD_COLUMNS = (
    "client_id",
    "type",
    "key",
    "title",
    "status",
    "opened_at",
    "due_at",
    "sla_due_at",
    "amount",
    "currency",
    "assignee",
    "last_event_at",
)
# What crm.flags says of each: the flag, its severity, since when, and every
# flag its facets would raise alone ("overdue invoice, failed payment").
RAISED_COLUMNS = ("flag", "severity", "since", "labels")

_ACTIVE = Client.status == "active"


def flag_counts_frame(
    session: Session, now: datetime, settings: FlagSettings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Per active client with flags (the index): how many of each flag
    (FLAG_COLUMNS), and `flags`, how many in all. Each flagged thread counts
    once, under its flag (an overdue invoice whose payment failed is an
    overdue invoice)."""
    kinds = rules.THREAD_KINDS
    # Counted before the clients are joined, which costs a row per client,
    # not one per flagged thread.
    grouped = (
        select(
            Entity.client_id,
            *(
                func.count().filter(rules.kind_sql(kind, now, settings)).label(kind)
                for kind in kinds
            ),
        )
        .where(_flagged(now, settings))
        .group_by(Entity.client_id)
        .subquery("flagged")
    )
    threads = (
        select(grouped.c.client_id, *(grouped.c[kind] for kind in kinds))
        .join(Client, Client.id == grouped.c.client_id)
        .where(_ACTIVE)
    )
    counts: dict[int, dict[str, int]] = {}
    for client_id, *numbers in session.execute(threads):
        counts[client_id] = dict(zip(kinds, numbers, strict=True))
    recurring = rules.recurring_sql(now).subquery("recurring")
    per_client = (
        select(recurring.c.client_id, func.count())
        .join(Client, Client.id == recurring.c.client_id)
        .where(_ACTIVE)
        .group_by(recurring.c.client_id)
    )
    for client_id, number in session.execute(per_client):
        counts.setdefault(client_id, {})["recurring_alert"] = number
    frame = pd.DataFrame.from_dict(counts, orient="index", columns=list(FLAG_COLUMNS))
    frame = frame.reindex(columns=list(FLAG_COLUMNS)).fillna(0).astype(int)
    frame.index.name = "client_id"
    frame["flags"] = frame.sum(axis=1)
    return frame


def flags_frame(
    session: Session,
    now: datetime,
    settings: FlagSettings = DEFAULT_SETTINGS,
    limit: int = FLAGS_LISTED,
) -> pd.DataFrame:
    """The `limit` most severe flags of active clients at `now` (crm.flags.rank,
    then by the client's slug and the thread's key): FLAG_THREAD_COLUMNS +
    RAISED_COLUMNS, one row per flag, in no particular order (analysis.ranked_flags
    orders them)."""
    # The few first, found down indexes of open threads by age (crm.flags.ranking);
    # then only their rows are read.
    listed = most_severe(session, now, settings, limit, _ACTIVE)
    state = [getattr(Entity, name) for name in FLAG_THREAD_COLUMNS]
    threads = session.execute(
        select(*state, Entity.closed_at, Entity.priority).where(Entity.id.in_(listed))
    )
    rows = []
    for thread in threads:
        raised = rules.flag_of(thread, now, settings)
        rows.append(
            dict(zip(FLAG_THREAD_COLUMNS, thread, strict=False))
            | _raised(raised.kind, raised.severity, raised.since, raised.facet_kinds)
        )
    for client_id, instance, alertname, _, first, last, key in session.execute(
        _recurring(now, limit)
    ):
        rows.append(
            {"client_id": client_id, "type": "alert", "key": key}
            | {"title": f"{alertname} on {instance}", "opened_at": first, "last_event_at": last}
            | _raised("recurring_alert", "high", first, ("recurring_alert",))
        )
    columns = list(FLAG_THREAD_COLUMNS + RAISED_COLUMNS)
    return pd.DataFrame([[row.get(name) for name in columns] for row in rows], columns=columns)


def _flagged(now: datetime, settings: FlagSettings):
    return and_(
        _open_of_flagged_types(),
        or_(*(rules.rule_sql(kind, now, settings) for kind in rules.FLAGGED_TYPES)),
    )


def _open_of_flagged_types():
    """What crm.flags' rules share, said once more where a plan can see it:
    an open thread of a type with a rule. The index of open threads
    (ix_entities_open_threads) answers it, and holds what the rules read."""
    return and_(Entity.closed_at.is_(None), Entity.type.in_(rules.FLAGGED_TYPES))


def _raised(kind: str, severity: str, since: datetime, kinds: tuple[str, ...]) -> dict:
    labels = ", ".join(rules.LABELS[each] for each in kinds)
    return {"flag": kind, "severity": severity, "since": since, "labels": labels}


def _recurring(now: datetime, limit: int):
    """The `limit` longest recurring of active clients (all are high), each
    with its latest occurrence's thread."""
    recurring = rules.recurring_with_thread_sql(now)
    return (
        select(*recurring.c)
        .join(Client, Client.id == recurring.c.client_id)
        .where(_ACTIVE)
        .order_by(recurring.c.first, Client.slug, recurring.c.instance, recurring.c.alertname)
        .limit(limit)
    )
