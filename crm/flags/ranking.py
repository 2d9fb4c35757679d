"""crm.flags.rank as SQL: the flagged threads of many clients ranked in the
database, so a view that lists the most severe few (the portfolio report)
reads those few, never every flagged thread.

`rank_sql` gives, for a thread that raises a flag at the present, the three
parts of crm.flags.rank_of as SQL expressions: the index of its severity in
SEVERITIES, its `since` and the position of its kind in KINDS. Each is built
from the rules' own declarations (their facets' conditions, Severity and the
kinds' `since` columns), so it cannot say otherwise than flag_of
(tests/test_flag_rules.py holds them equal on generated thread states).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, literal, not_, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm.flags import (
    DEFAULT_SETTINGS,
    KINDS,
    RULES,
    FlagSettings,
    flag_of,
    kind_sql,
    open_sql,
    rank,
)
from crm.flags.severity import SEVERITIES, least
from crm.models import Client, Entity

_KIND_ORDER = {name: position for position, name in enumerate(KINDS)}
_NONE = len(SEVERITIES)  # greater than every severity's index: a facet that does not hold


@dataclass(frozen=True)
class RankSql:
    severity: ColumnElement  # the index in SEVERITIES (0: critical)
    since: ColumnElement
    kind: ColumnElement  # the position of the flag in KINDS
    flagged: ColumnElement  # the thread raises a flag at all


def rank_sql(
    at: datetime, settings: FlagSettings = DEFAULT_SETTINGS, *, present: bool = True
) -> RankSql:
    """The rank of every thread that raises a flag at `at`: the present, or
    with `present` False a past moment (crm.flags.is_open), as a briefing
    reads the start of its period."""
    severities, sinces, kinds, flagged = [], [], [], []
    for rule in RULES.values():
        of_type = Entity.type == rule.thread_type
        conditions = [facet.condition.sql(at, settings) for facet in rule.facets]
        flagged.append(and_(of_type, or_(*conditions)))
        # the most severe of the facets that hold
        facet_severities = [
            case((condition, facet.severity.sql(at, settings)), else_=_NONE)
            for facet, condition in zip(rule.facets, conditions, strict=True)
        ]
        severities.append((of_type, least(*facet_severities)))
        # the first facet that holds names the flag, whose `since` it counts from
        for position, facet in enumerate(rule.facets):
            first = and_(of_type, conditions[position], *(not_(c) for c in conditions[:position]))
            since = KINDS[facet.kind].since
            column = getattr(Entity, since) if since else Entity.opened_at
            sinces.append((first, func.coalesce(column, Entity.opened_at)))
            kinds.append((first, _KIND_ORDER[facet.kind]))
    return RankSql(
        severity=case(*severities, else_=_NONE),
        since=case(*sinces, else_=Entity.opened_at),
        kind=case(*kinds, else_=literal(len(KINDS))),
        flagged=and_(open_sql(at, present=present), or_(*flagged)),
    )


# --- the most severe few, read boundedly ----------------------------------------------

BATCH = 1000  # rows read at a time down an index


@dataclass(frozen=True)
class _Group:
    """One thread type's threads of one flag: ranked, at one severity, by
    one column (KINDS' `since`), which an index keeps in order."""

    thread_type: str
    kind: str
    since: str
    severities: frozenset[int]  # the indexes in SEVERITIES its flags can have


def _groups() -> list[_Group]:
    groups: dict[tuple[str, str], set[int]] = {}
    for rule in RULES.values():
        for position, facet in enumerate(rule.facets):
            # its severity is the least of the facets that hold: this one, and
            # any after it (those before do not hold, or the flag were theirs)
            possible = set().union(*(f.severity.possible() for f in rule.facets[position:]))
            groups.setdefault((rule.thread_type, facet.kind), set()).update(possible)
    return [
        _Group(thread_type, kind, KINDS[kind].since or "opened_at", frozenset(severities))
        for (thread_type, kind), severities in groups.items()
    ]


def most_severe(
    session: Session,
    at: datetime,
    settings: FlagSettings = DEFAULT_SETTINGS,
    limit: int = 100,
    clients: ColumnElement | None = None,
) -> list[int]:
    """The ids of the `limit` threads whose flags rank first at the present
    `at` (crm.flags.rank, then by the client's slug and the thread's key),
    in that order; `clients` a condition on Client (the active ones).

    Ranking every flagged thread cost seconds at 10,000 clients (400,000 of
    them, each severity a CASE to evaluate, which no planner can estimate).
    But a severity holds few values, and within one thread type, flag and
    severity, flags rank by one column alone (`since`, then slug and key).
    So, severity by severity from the most severe, each group's threads are
    read down an index of open threads by that column (OPEN_BY_SINCE), a
    batch at a time, and judged here by crm.flags.flag_of, the one rule,
    until the group has `limit` of that severity: the oldest threads, which
    are the most severe, come first. Once `limit` are found, no less severe
    flag can rank among them (tests/test_flag_ranking.py holds this equal to
    ranking them all)."""
    found: list[tuple] = []
    for severity in range(len(SEVERITIES)):
        for group in _groups():
            if severity in group.severities:
                found += _walk(session, group, severity, at, settings, limit, clients)
        if len(found) >= limit:
            break
    return [entry[-1] for entry in sorted(found)[:limit]]


@contextmanager
def _in_index_order(session: Session) -> Iterator[None]:
    """PostgreSQL walks the indexes in their order, for the transaction.

    It cannot estimate how many of a type's open threads raise a flag (at
    10,000 clients it guessed 438 overdue invoices of 180,000) and so it
    preferred to fetch them all and sort them (0.3 s a batch) over reading
    the index's head (milliseconds)."""
    if session.connection().dialect.name != "postgresql":
        yield
        return
    names = ("enable_sort", "enable_bitmapscan")
    before = [session.scalar(select(func.current_setting(name))) for name in names]
    for name in names:
        session.execute(select(func.set_config(name, "off", True)))
    try:
        yield
    finally:
        for name, value in zip(names, before, strict=True):
            session.execute(select(func.set_config(name, value, True)))


@contextmanager
def _as_planned(session: Session) -> Iterator[None]:
    yield


_STATE = (Entity.type, Entity.status, Entity.priority, Entity.closed_at, Entity.due_at)
_STATE += (Entity.sla_due_at, Entity.last_event_at, Entity.key, Entity.id)


def _walk(
    session: Session,
    group: _Group,
    severity: int,
    at: datetime,
    settings: FlagSettings,
    limit: int,
    clients: ColumnElement | None,
) -> list[tuple]:
    """The first `limit` flags of `group` at `severity` (and any tied with
    the last on `since`), as (rank, slug, key, id). Those with the group's
    column by it, those without by opened_at (since is coalesce(column,
    opened_at)), each down the index (type, column, opened_at, id)."""
    column = getattr(Entity, group.since)
    # (the few without the column are sorted: walking the index by opened_at
    # for them would read every open thread of the type)
    by_age = [Entity.opened_at, Entity.id]
    if group.since == "opened_at":
        parts = [(column.is_not(None), by_age, _in_index_order)]
    else:
        parts = [(column.is_not(None), [column, *by_age], _in_index_order)]
        parts.append((column.is_(None), by_age, _as_planned))
    taken: list[tuple] = []
    for present, keys, planned in parts:
        labelled = [key.label(f"walked_{number}") for number, key in enumerate(keys)]
        query = (
            select(*_STATE, Entity.opened_at, Client.slug, *labelled)
            .join(Client, Client.id == Entity.client_id)
            .where(Entity.closed_at.is_(None), Entity.type == group.thread_type, present)
            # the group's flag, as SQL (crm.flags.kind_sql): a flag few threads
            # raise is found without reading every open thread of its type
            .where(kind_sql(group.kind, at, settings))
        )
        if clients is not None:
            query = query.where(clients)
        of_part: list[tuple] = []
        after = None
        with planned(session):
            while True:
                batch = query if after is None else query.where(tuple_(*keys) > after)
                rows = session.execute(batch.order_by(*keys).limit(BATCH)).all()
                for row in rows:
                    if len(of_part) >= limit and row.walked_0 > of_part[limit - 1][0][1]:
                        break
                    raised = flag_of(row, at, settings)
                    if (
                        raised
                        and raised.kind == group.kind
                        and SEVERITIES.index(raised.severity) == severity
                    ):
                        of_part.append((rank(raised), row.slug, row.key, row.id))
                else:
                    if len(rows) == BATCH:
                        after = tuple(rows[-1][-len(keys) :])
                        continue
                break
        taken += of_part
    return taken
