"""What lies ahead (crm.flags.is_pending, renewal_due, open_quote) as SQL, for a
view that counts the renewals and quotes ahead and reads only the first few
(the briefing, reports.briefing.shown). Each says what its Python form says
(tests/test_flag_rules.py holds them equal on generated thread states).
"""

from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from crm.flags import RENEWAL_HORIZON
from crm.models import Entity


def pending_sql(at: datetime, *, present: bool = True) -> ColumnElement:
    """is_pending as SQL."""
    if present:
        return Entity.closed_at.is_(None)
    return or_(Entity.closed_at.is_(None), Entity.closed_at > at)


def renewal_due_sql(at: datetime, *, present: bool = True) -> ColumnElement:
    return and_(
        Entity.type == "renewal",
        Entity.due_at.is_not(None),
        Entity.due_at <= at + RENEWAL_HORIZON,
        pending_sql(at, present=present),
    )


def open_quote_sql(at: datetime, *, present: bool = True) -> ColumnElement:
    return and_(Entity.type == "deal", pending_sql(at, present=present))
