"""Derive a thread's current state (an Entity) from its events.

The state is a pure function of the *set* of a thread's events: they are
sorted by (time, stage, external id) before folding, so arrival order never
matters, and folding the same set again gives the same state. A late
`ticket.updated` stamped before `ticket.resolved` sorts before it and so can
never reopen the ticket.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from crm.vocabulary import KINDS, is_closed

# Attributes of an event that feed its thread's state; they are stored in the
# event's `attributes` under these names (datetimes as ISO 8601 strings).
STATE_ATTRIBUTES = ("status", "due_at", "priority", "category", "assignee", "sla_due_at")
_DATETIME_ATTRIBUTES = ("due_at", "sla_due_at")
# Fields the most recent event that carries them decides.
_LATEST_WINS = ("amount", "currency", "due_at", "priority", "category", "assignee", "sla_due_at")


@dataclass(frozen=True, slots=True)
class ThreadFact:
    """What one event says about its thread."""

    occurred_at: datetime
    kind: str
    external_id: str
    title: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    status: str | None = None
    due_at: datetime | None = None
    priority: str | None = None
    category: str | None = None
    assignee: str | None = None
    sla_due_at: datetime | None = None

    @classmethod
    def from_stored(cls, occurred_at, kind, external_id, title, amount, currency, attributes):
        """Build from an event row, whose state attributes are JSON values."""
        attributes = attributes or {}
        values = {name: attributes.get(name) for name in STATE_ATTRIBUTES}
        for name in _DATETIME_ATTRIBUTES:
            if values[name]:
                values[name] = datetime.fromisoformat(values[name])
        return cls(occurred_at, kind, external_id, title, amount, currency, **values)


def fold(entity_type: str, facts: Iterable[ThreadFact]) -> dict:
    """The state of a thread of `entity_type` given all of its facts."""
    ordered = sorted(facts, key=lambda f: (f.occurred_at, KINDS[f.kind].stage, f.external_id))
    if not ordered:
        raise ValueError("a thread has at least one event")
    state = {
        "type": entity_type,
        "status": None,
        "title": None,
        "opened_at": ordered[0].occurred_at,
        "closed_at": None,
        "due_at": None,
        "amount": None,
        "currency": None,
        "priority": None,
        "category": None,
        "assignee": None,
        "sla_due_at": None,
        "last_event_at": ordered[-1].occurred_at,
        "event_count": len(ordered),
    }
    for fact in ordered:
        kind = KINDS[fact.kind]
        status = (fact.status if kind.status_from_record else None) or kind.status
        if status:
            state["status"] = status
            state["closed_at"] = fact.occurred_at if is_closed(entity_type, status) else None
        # The first title names the thread ("Printer offline"); later events
        # ("Payment received") describe a step, not the thread.
        state["title"] = state["title"] or fact.title
        for name in _LATEST_WINS:
            value = getattr(fact, name)
            if value is not None:
                state[name] = value
    state["status"] = state["status"] or "open"
    return state
