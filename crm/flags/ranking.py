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

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, literal, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from crm.flags import DEFAULT_SETTINGS, KINDS, RULES, FlagSettings, open_sql
from crm.flags.severity import SEVERITIES, least
from crm.models import Entity

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
