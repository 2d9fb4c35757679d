"""What the database holds: counts for `flask stats` and the portfolio overview."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.models import Client, Entity, Event, InboxRecord
from crm.vocabulary import SOURCES, TIERS


def _grouped(session: Session, *columns) -> list[tuple]:
    return session.execute(
        select(*columns, func.count()).group_by(*columns).order_by(*columns)
    ).all()


def database_stats(session: Session) -> dict:
    """Clients by tier, events by source and kind, entities, inbox by status."""
    clients = dict.fromkeys(TIERS, 0) | dict(_grouped(session, Client.tier))
    events: dict[str, dict[str, int]] = defaultdict(dict)
    for source, kind, count in _grouped(session, Event.source, Event.kind):
        events[source][kind] = count
    entities: dict[str, dict[str, int]] = defaultdict(dict)
    for entity_type, status, count in _grouped(session, Entity.type, Entity.status):
        entities[entity_type][status] = count
    return {
        "clients": {"total": sum(clients.values()), "by_tier": clients},
        "events": {
            "total": sum(sum(kinds.values()) for kinds in events.values()),
            "by_source": {source: sum(kinds.values()) for source, kinds in events.items()},
            "by_kind": dict(events),
        },
        "entities": dict(entities),
        "inbox": dict(_grouped(session, InboxRecord.status)),
    }


@dataclass
class ClientRow:
    slug: str
    name: str
    tier: str
    account_manager: str | None
    by_source: dict[str, int] = field(default_factory=dict)
    last_event_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


def portfolio_overview(session: Session) -> list[ClientRow]:
    """Every client with its event count per source, in two queries."""
    rows = {
        client_id: ClientRow(slug, name, tier, manager, dict.fromkeys(SOURCES, 0))
        for client_id, slug, name, tier, manager in session.execute(
            select(
                Client.id, Client.slug, Client.name, Client.tier, Client.account_manager
            ).order_by(Client.name)
        )
    }
    counts = session.execute(
        select(Event.client_id, Event.source, func.count(), func.max(Event.occurred_at)).group_by(
            Event.client_id, Event.source
        )
    )
    for client_id, source, count, last in counts:
        row = rows[client_id]
        row.by_source[source] = count
        row.last_event_at = max(filter(None, (row.last_event_at, last)), default=None)
    return list(rows.values())
