"""Conditions on a thread's state, each declared once and read two ways.

A condition (Passed, Is, ...) gives a SQL condition over the entities table,
for the directory and the portfolio report, and a test of one thread in
Python, for the card (an Entity) and the briefing (a row of its frame): the
rules of crm.flags are built of them, so the two ways cannot drift apart
(tests/test_flag_rules.py holds them equal on generated thread states).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, true
from sqlalchemy.sql.elements import ColumnElement

from crm.models import Entity


def value(thread, name: str):
    """A state value of `thread` (an Entity, or a frame's row), None when missing:
    a frame's row carries NaT or NaN where an Entity carries None."""
    found = getattr(thread, name, None)
    return None if found is None or found != found else found


def ascii_lower(text: str) -> str:
    """Lower case as SQLite's lower() makes it (ASCII letters only)."""
    return text.translate(_LOWER)


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Condition:
    """A condition on one thread's state at a moment `at`. `sql` never gives
    NULL (a missing value makes a condition false), so conditions combine
    with AND, OR and NOT as they do in Python."""

    def sql(self, at: datetime, settings) -> ColumnElement:
        raise NotImplementedError

    def holds(self, thread, at: datetime, settings) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Always(Condition):
    def sql(self, at, settings):
        return true()

    def holds(self, thread, at, settings):
        return True


@dataclass(frozen=True)
class Passed(Condition):
    """The moment in `column`, `later` after it (a span the settings give),
    lies before `at`, or is `at` itself when `inclusive`."""

    column: str
    later: Callable[..., timedelta] | None = None
    inclusive: bool = False

    def _limit(self, at: datetime, settings) -> datetime:
        return at - self.later(settings) if self.later else at

    def sql(self, at, settings):
        column, limit = getattr(Entity, self.column), self._limit(at, settings)
        return and_(column.is_not(None), column <= limit if self.inclusive else column < limit)

    def holds(self, thread, at, settings):
        moment = value(thread, self.column)
        if moment is None:
            return False
        limit = self._limit(at, settings)
        return moment <= limit if self.inclusive else moment < limit


@dataclass(frozen=True)
class Is(Condition):
    """`column` is one of `values`; compared in lower case when `fold` (the
    values are lower-case ASCII)."""

    column: str
    values: tuple[str, ...]
    fold: bool = False

    def sql(self, at, settings):
        column = getattr(Entity, self.column)
        compared = func.lower(column) if self.fold else column
        return and_(column.is_not(None), compared.in_(self.values))

    def holds(self, thread, at, settings):
        found = value(thread, self.column)
        if found is None:
            return False
        return (ascii_lower(str(found)) if self.fold else found) in self.values
