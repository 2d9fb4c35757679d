"""Derive a thread's current state (an Entity) from its events.

The state is a pure function of the *set* of a thread's events: they are
sorted by (time, stage, external id) before folding, so arrival order never
matters, and folding the same set again gives the same state. A late
`ticket.updated` stamped before `ticket.resolved` sorts before it and so can
never reopen the ticket.

A thread is closed at the moment it *became* closed: a ticket solved on
Monday and closed (Zendesk's later, automatic step) on Friday was closed on
Monday, and a snapshot of an invoice that was paid long ago does not move
its payment to the day the snapshot was taken. A closed status after another
closed status keeps the first one's time; only a reopening starts over.

Every field of the state is the first or the last value some event gives it,
so the state of a run of events followed by a later run is the first state
continued by the second (`ThreadState.then`): a thread whose new events all
come after its stored ones is brought up to date from its stored state alone,
without reading its history again (see crm.entities).
"""

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from crm.vocabulary import ENTITY_TYPES, KINDS

# Attributes of an event that feed its thread's state; they are stored in the
# event's `attributes` under these names (datetimes as ISO 8601 strings).
STATE_ATTRIBUTES = ("status", "due_at", "priority", "category", "assignee", "sla_due_at")
_DATETIME_ATTRIBUTES = ("due_at", "sla_due_at")
# Fields the most recent event that carries them decides.
_LATEST_WINS = ("amount", "currency", *STATE_ATTRIBUTES[1:], "device")  # all but status
# The attribute that names the device an event is about (an alert's host, as
# monitoring labels it); the thread's `device` is the latest one named.
DEVICE_ATTRIBUTE = "instance"


def device_of(attributes: dict | None) -> str | None:
    """The device an event's attributes name, as text (as SQL casts a JSON
    value); missing or empty is None."""
    found = (attributes or {}).get(DEVICE_ATTRIBUTE)
    if found is None or found == "":
        return None
    return found if isinstance(found, str) else str(found)


_STAGE = {name: kind.stage for name, kind in KINDS.items()}
# The status each kind gives its thread, and whether the record's own status refines it.
_STATUS = {name: (kind.status, kind.status_from_record) for name, kind in KINDS.items()}


class ThreadFact(NamedTuple):
    """What one event says about its thread.

    A named tuple, not a dataclass: ingest makes one per threaded event, and
    building a tuple costs a fraction of setting a frozen dataclass's fields.
    """

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
    device: str | None = None  # device_of the event's attributes

    @classmethod
    def from_stored(cls, occurred_at, kind, external_id, title, amount, currency, attributes):
        """Build from an event row, whose state attributes are JSON values."""
        attributes = attributes or {}
        values = {name: attributes.get(name) for name in STATE_ATTRIBUTES}
        for name in _DATETIME_ATTRIBUTES:
            if values[name]:
                values[name] = datetime.fromisoformat(values[name])
        return cls(
            occurred_at,
            kind,
            external_id,
            title,
            amount,
            currency,
            **values,
            device=device_of(attributes),
        )


def fact_order(fact: ThreadFact) -> tuple:
    """Where a fact stands in its thread: by time, then stage, then id."""
    return (fact.occurred_at, _STAGE[fact.kind], fact.external_id)


@dataclasses.dataclass(slots=True)
class ThreadState:
    """The state a run of a thread's events gives it.

    `status` stays None until an event sets one; `as_entity` gives the
    thread the status `open` then, as the Entity row stores it.
    """

    type: str
    opened_at: datetime
    last_event_at: datetime
    event_count: int
    status: str | None = None
    closed_at: datetime | None = None
    title: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    due_at: datetime | None = None
    priority: str | None = None
    category: str | None = None
    assignee: str | None = None
    sla_due_at: datetime | None = None
    device: str | None = None  # the device its latest event naming one names
    # Whether every event of the run that gave a status gave a closed one:
    # continued after a closed state, such a run keeps the earlier closing
    # time. Not stored: only a freshly folded run (`later` in `then`) asks.
    closed_throughout: bool = False

    def then(self, later: "ThreadState") -> "ThreadState":
        """This state continued by `later`, the state of events that all come
        after this state's events."""
        merged = dataclasses.replace(
            self,
            last_event_at=later.last_event_at,
            event_count=self.event_count + later.event_count,
            title=self.title or later.title,
            closed_throughout=self.closed_throughout and later.closed_throughout,
        )
        if later.status is not None:
            merged.status = later.status
            still_closed = later.closed_throughout and self.closed_at is not None
            merged.closed_at = self.closed_at if still_closed else later.closed_at
        for name in _LATEST_WINS:
            value = getattr(later, name)
            if value is not None:
                setattr(merged, name, value)
        return merged

    def as_entity(self) -> dict:
        """The Entity row's state columns (see crm.models.Entity)."""
        values = {name: getattr(self, name) for name in STATE_COLUMNS}
        values["status"] = self.status or "open"
        return values


# The state columns of an Entity row: ThreadState's stored fields, in their order.
STATE_COLUMNS = tuple(
    field.name for field in dataclasses.fields(ThreadState) if field.name != "closed_throughout"
)


def fold_ordered(entity_type: str, ordered: list[ThreadFact]) -> ThreadState:
    """The state of a thread of `entity_type` from facts already in `fact_order`."""
    if not ordered:
        raise ValueError("a thread has at least one event")
    closed_statuses = ENTITY_TYPES[entity_type]
    status = closed_at = title = None
    closed_throughout = True
    amount = currency = due_at = priority = category = assignee = sla_due_at = device = None
    # One pass with locals, not a dict of state: ingest folds every thread a
    # batch touches, and this loop is most of that cost.
    for fact in ordered:
        given, refined = _STATUS[fact.kind]
        fact_status = (fact.status if refined else None) or given
        if fact_status:
            status = fact_status
            if fact_status in closed_statuses:
                closed_at = closed_at or fact.occurred_at
            else:
                closed_at, closed_throughout = None, False
        # The first title names the thread ("Printer offline"); later events
        # ("Payment received") describe a step, not the thread.
        title = title or fact.title
        if fact.amount is not None:
            amount = fact.amount
        if fact.currency is not None:
            currency = fact.currency
        if fact.due_at is not None:
            due_at = fact.due_at
        if fact.priority is not None:
            priority = fact.priority
        if fact.category is not None:
            category = fact.category
        if fact.assignee is not None:
            assignee = fact.assignee
        if fact.sla_due_at is not None:
            sla_due_at = fact.sla_due_at
        if fact.device is not None:
            device = fact.device
    return ThreadState(
        entity_type,
        ordered[0].occurred_at,
        ordered[-1].occurred_at,
        len(ordered),
        status,
        closed_at,
        title,
        amount,
        currency,
        due_at,
        priority,
        category,
        assignee,
        sla_due_at,
        device,
        closed_throughout and status is not None,
    )


def fold_state(entity_type: str, facts: Iterable[ThreadFact]) -> ThreadState:
    """The state of a thread of `entity_type` given all of its facts, in any order."""
    return fold_ordered(entity_type, sorted(facts, key=fact_order))


def fold(entity_type: str, facts: Iterable[ThreadFact]) -> dict:
    """The Entity state columns of a thread of `entity_type` given all of its facts."""
    return fold_state(entity_type, facts).as_entity()
