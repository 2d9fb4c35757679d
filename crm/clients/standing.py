"""How each client stands, for the directory: its health score (crm.health's one
rule), its last touch and its last contact, each as a value per row and as a sort key.

**Last touch** is the latest event of any kind by now.

**Last contact** is the last time we spoke to or wrote to the client: a call
or a meeting logged on the timeline, or an e-mail we sent (a campaign sent to
its contacts). Not any event: an alert firing or an invoice paid is no
contact. Events dated ahead (a call planned) are not contact yet.
"""

from datetime import datetime

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from crm import health
from crm.flags import FlagSettings
from crm.models import Client, Event

CONTACT_KINDS = ("call", "meeting", "campaign.sent")


def last_touch_sql(now: datetime):
    """The latest event by `now` of the client in the outer query: one index
    seek. (A record may date an event ahead, as a renewal at its renewal day:
    that is no touch yet.)"""
    return _latest_sql(now)


def last_contact_sql(now: datetime):
    """The latest contact by `now` of the client in the outer query."""
    return _latest_sql(now, Event.kind.in_(CONTACT_KINDS))


def last_touches(session: Session, ids: list[int], now: datetime) -> dict[int, datetime]:
    return _per_client(session, ids, last_touch_sql(now))


def last_contacts(session: Session, ids: list[int], now: datetime) -> dict[int, datetime]:
    return _per_client(session, ids, last_contact_sql(now))


def _latest_sql(now: datetime, *conditions):
    return (
        select(func.max(Event.occurred_at))
        .where(Event.client_id == Client.id, *conditions, Event.occurred_at <= now)
        .correlate(Client)
        .scalar_subquery()
    )


def _per_client(session: Session, ids: list[int], latest) -> dict[int, datetime]:
    if not ids:
        return {}
    rows = session.execute(select(Client.id, latest).where(Client.id.in_(ids)))
    return {client_id: at for client_id, at in rows if at is not None}


def health_sql(session: Session, now: datetime, settings: FlagSettings):
    """Every client's health score as a SQL value to sort by: computed in Python
    by the one rule for the clients with flags (the rest score full)."""
    scores = {
        client_id: score
        for client_id, score in health.current_scores(session, None, now, settings).items()
        if score < health.FULL_HEALTH
    }
    if not scores:
        return literal(health.FULL_HEALTH)
    return case(scores, value=Client.id, else_=health.FULL_HEALTH)
