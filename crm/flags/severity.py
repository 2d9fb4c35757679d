"""How severe a flag is, declared once and read two ways, like its conditions.

A facet's severity is a base (one of SEVERITIES, higher for some priorities)
that grows with lateness: a step once the moment it counts from is more than
30 days past and two once it is more than 90 (AGING_BUCKETS). Declared as a
Severity, it gives the severity of one thread in Python (the card, the
briefing, the ranking of a handful of flags) and the same as SQL (the index
in SEVERITIES), so the portfolio can rank every flagged thread of every client
in the database and read only the most severe few
(tests/test_flag_rules.py holds the two equal on generated thread states).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal
from sqlalchemy.sql.elements import ColumnElement

from crm.flags.conditions import ascii_lower, value
from crm.formatting import whole_days
from crm.models import Entity

SEVERITIES = ("critical", "high", "medium", "low")  # most severe first
# (label, first day late, last day late or None): overdue invoices are shown
# by these, and every kind of lateness grows in severity by them.
AGING_BUCKETS = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
STEPS_UP = {"1-30": 0, "31-60": 1, "61-90": 1, "90+": 2}


def aging_bucket(days_late: int) -> str:
    """The bucket of AGING_BUCKETS `days_late` falls in (less than a day: the first)."""
    for label, first, last in AGING_BUCKETS:
        if days_late >= first and (last is None or days_late <= last):
            return label
    return AGING_BUCKETS[0][0]


def grown(base: str, days_late: int) -> str:
    """`base` raised a step past 30 days late and two past 90 (AGING_BUCKETS)."""
    steps = STEPS_UP[aging_bucket(days_late)]
    return SEVERITIES[max(0, SEVERITIES.index(base) - steps)]


# From the most steps down: (first day late, steps up from then on).
_THRESHOLDS = tuple(
    sorted(
        ((first, STEPS_UP[label]) for label, first, _ in AGING_BUCKETS if STEPS_UP[label]),
        reverse=True,
    )
)


@dataclass(frozen=True)
class Severity:
    """`base`, or the severity `by_priority` gives the thread's priority
    (lower-case ASCII priorities, compared as crm.flags.conditions.Is folds
    them); grown by the whole days since `grows_from` (plus `later`, a span
    the settings give) when set."""

    base: str
    by_priority: tuple[tuple[tuple[str, ...], str], ...] = ()
    grows_from: str | None = None
    later: Callable[..., timedelta] | None = None

    def of(self, thread, at: datetime, settings) -> str:
        base = self.base
        if self.by_priority:
            priority = ascii_lower(str(value(thread, "priority") or ""))
            for values, severity in self.by_priority:
                if priority in values:
                    base = severity
                    break
        if self.grows_from is None:
            return base
        start = value(thread, self.grows_from)
        if self.later:
            start = start + self.later(settings)
        return grown(base, whole_days(start, at))

    def possible(self) -> set[int]:
        """Every index in SEVERITIES this can give: each base, grown by any steps."""
        bases = {_index(self.base), *(_index(severity) for _, severity in self.by_priority)}
        steps = set(STEPS_UP.values()) if self.grows_from else {0}
        return {max(0, base - step) for base in bases for step in steps}

    def sql(self, at: datetime, settings) -> ColumnElement:
        """The index in SEVERITIES, as SQL (0 is critical)."""
        base = _index(self.base)
        if self.by_priority:
            lowered = func.lower(Entity.priority)
            base = case(
                *((lowered.in_(values), _index(s)) for values, s in self.by_priority),
                else_=base,
            )
        if self.grows_from is None:
            return base if isinstance(base, ColumnElement) else literal(base)
        column = getattr(Entity, self.grows_from)
        later = self.later(settings) if self.later else timedelta(0)
        # whole_days(start + later, at) >= first  <=>  start <= at - later - first days
        steps = case(
            *((column <= at - later - timedelta(days=first), n) for first, n in _THRESHOLDS),
            else_=0,
        )
        grown_index = base - steps
        return case((grown_index < 0, 0), else_=grown_index)


def _index(severity: str) -> int:
    return SEVERITIES.index(severity)


def least(*expressions: ColumnElement) -> ColumnElement:
    """The smallest of `expressions`, as a CASE both engines read alike."""
    smallest = expressions[0]
    for other in expressions[1:]:
        smallest = case((other < smallest, other), else_=smallest)
    return smallest


def aging_bucket_sql(column: ColumnElement, at: datetime) -> ColumnElement:
    """aging_bucket(whole_days(column, at)) as SQL: the label of the bucket
    the days from the moment in `column` to `at` fall in."""
    return case(
        *(
            (column <= at - timedelta(days=first), label)
            for label, first, _ in reversed(AGING_BUCKETS[1:])
        ),
        else_=AGING_BUCKETS[0][0],
    )
