"""Since when Touchline knows a client, and refusing questions about a day before.

A briefing for a day before the client existed would read as a calm, empty
account ("health 100, nothing to raise"), which is false comfort rather than
an answer. The client is known from the earlier of the day they became a
customer (`customer_since`) and the day of their first record on the timeline
(history imported later counts), read in the client's own time zone as the
briefing reads its meeting day. The day they were entered in Touchline does
not bound it: their history may be imported after them. A client with
neither is not bounded: nothing says when they began.
"""

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.formatting import zone
from crm.models import Client, Event
from crm.models.types import utcnow


class BeforeClient(ValueError):
    """A day asked about falls before the client existed; `field` names the input."""

    field = "date"

    def __init__(self, client: Client, day: date, since: date):
        self.since = since
        super().__init__(
            f"{day.isoformat()} is before {client.name} existed: Touchline knows them from "
            f"{since.isoformat()}. Pick a day from then on."
        )


def known_since(session: Session, client: Client) -> date | None:
    """The first day (client time) the client is known to have existed, if any is."""
    local = zone(client.timezone)
    first_record = session.scalar(
        # A record dated ahead (a renewal at its renewal day) says nothing of the past.
        select(func.min(Event.occurred_at)).where(
            Event.client_id == client.id, Event.occurred_at <= utcnow()
        )
    )
    days = []
    if first_record is not None:
        days.append(first_record.astimezone(local).date())
    if client.customer_since is not None:
        days.append(client.customer_since)
    return min(days) if days else None


def check_day(session: Session, client: Client, day: date) -> None:
    """Raise BeforeClient when `day` falls before the client existed."""
    since = known_since(session, client)
    if since is not None and day < since:
        raise BeforeClient(client, day, since)
