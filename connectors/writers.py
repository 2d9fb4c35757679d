"""Where converted records meet the database: what a writer is, and events.

A writer takes one batch's converted records and answers with an Outcome
per record, by the record's position in the batch: EventWriter takes the
events column by column, the others `(position, items)` pairs
(connectors.client_writers, device_writer, meeting_writer). It flushes;
the pipeline commits.
"""

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from connectors.base import EventColumns, RecordError, Skip
from connectors.lifecycle import IMPLIED_BY
from crm import event_caches
from crm.database import (
    insert_ignoring_conflicts,
    insert_new_stored,
    rows_with_keys,
    storage_columns,
)
from crm.entities import Thread, ThreadPlan, plan_threads, refresh_threads
from crm.identities import ClientResolver
from crm.models import Event, Identity
from crm.models.types import utcnow
from crm.search.index import index_new_events
from crm.threads import STATE_ATTRIBUTES, ThreadFact, device_of
from crm.vocabulary import ENTITY_TYPES, KINDS


@dataclass
class Outcome:
    status: str  # accepted | duplicate | skipped | rejected | unmatched
    reason: str | None = None
    field: str | None = None
    hints: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @classmethod
    def rejected(cls, error: RecordError) -> "Outcome":
        reason = f"{error.field} {error.message}" if error.field else error.message
        return cls("rejected", reason, error.field)

    @classmethod
    def failed(cls, error: RecordError | Skip) -> "Outcome":
        """A record its connector skipped, or found wrong."""
        return cls("skipped", str(error)) if isinstance(error, Skip) else cls.rejected(error)


# Most records are simply accepted; they share one Outcome, which nobody changes.
ACCEPTED = Outcome("accepted")


class Writer:
    """What every writer holds: the session, a client resolver for the
    batch, and `new_hints`, the identities its writes made resolvable, for
    the pipeline to replay the records that were waiting for them."""

    def __init__(self, session: Session):
        self.session = session
        self.resolver = ClientResolver(session)
        self.new_hints: set[tuple[str, str]] = set()


EVENT_KEY = ("origin", "external_id")
_SOURCE = {name: kind.source for name, kind in KINDS.items()}
_THREAD = {name: kind.thread for name, kind in KINDS.items()}
# Kinds whose threads keep a state (an Entity), with that thread type.
_STATEFUL = {name: kind.thread for name, kind in KINDS.items() if kind.thread in ENTITY_TYPES}


@dataclass
class PreparedEvents:
    """A batch's events made ready to write, before its transaction begins:
    their clients found, each natural key given to its first event, the rows
    converted for the driver and their threads planned as if every event
    were new, as nearly always (EventWriter.write mends the plan if not)."""

    events: EventColumns  # the events of records with a known client
    client_ids: list[int]
    keys: list[tuple[str, str]]
    first: list[int]  # positions in `events` of the first event with each key, as written
    rows: dict[str, Sequence]  # the events at `first`, as stored values
    threads: ThreadPlan
    unmatched: dict[int, Outcome]

    def __len__(self) -> int:
        return len(self.events)


class EventWriter(Writer):
    """Resolves clients, inserts new events once, refreshes their threads.

    Works on a batch's events column by column (connectors.base.EventColumns),
    in two steps: `prepare` reads, `write` writes, so that a batch's
    transaction holds only what must be in it.
    """

    def __init__(self, session: Session, payload_id: int | None):
        super().__init__(session)
        self.payload_id = payload_id
        self.dialect = session.get_bind().dialect

    def prepare(self, events: EventColumns) -> PreparedEvents:
        events, client_ids, unmatched = self._resolved(events)
        keys = list(zip(events["origin"], events["external_id"], strict=True))
        first = _first_of_each(keys, events["attributes"])
        # Written client by client, each client's in time order: the two
        # indexes that begin with the client then take a batch's rows side by
        # side, not one here and one there (a quarter less insert time).
        occurred_at = events["occurred_at"]
        first.sort(key=lambda i: (client_ids[i], occurred_at[i]))
        unique = events.take(first)
        unique_ids = [client_ids[i] for i in first]
        return PreparedEvents(
            events,
            client_ids,
            keys,
            first,
            storage_columns(
                self.dialect,
                Event.__table__,
                event_rows(unique, unique_ids) | self._receipt(len(unique)),
            ),
            plan_threads(self.dialect, thread_facts(unique, unique_ids)),
            unmatched,
        )

    def write(self, prepared: PreparedEvents) -> dict[int, Outcome]:
        """Insert the events whose keys are new; each record's Outcome."""
        events, first = prepared.events, prepared.first
        inserted = insert_new_stored(self.session, Event.__table__, prepared.rows, EVENT_KEY)
        if inserted:
            index_new_events(self.session.connection())
        threads = prepared.threads
        if len(inserted) < len(first):
            new = [first[i] for i in inserted]
            client_ids = [prepared.client_ids[i] for i in new]
            threads = plan_threads(self.dialect, thread_facts(events.take(new), client_ids))
        else:
            new = first
        refresh_threads(self.session, threads)
        self._count_collected(events, prepared.client_ids, new)
        self._learn_aliases(events, prepared.client_ids, new)

        outcomes = dict(prepared.unmatched)
        accepted = {events.record[i] for i in new}
        outcomes.update(dict.fromkeys(accepted, ACCEPTED))
        duplicates: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for record, key in zip(events.record, prepared.keys, strict=True):
            if record not in accepted:
                duplicates[record].append(key)
        for record, record_keys in duplicates.items():
            names = ", ".join(f"{origin}:{external_id}" for origin, external_id in record_keys)
            outcomes[record] = Outcome("duplicate", f"already on the timeline as {names}")
        return outcomes

    def _resolved(self, events: EventColumns) -> tuple[EventColumns, list[int], dict]:
        """The events whose records name a known client, those clients' ids,
        and the `unmatched` outcome of each record that does not."""
        hints = events["hints"]
        self.resolver.prefetch(set(hints))
        client_ids = list(map(self.resolver.resolve, hints))
        if None not in client_ids:
            return events, client_ids, {}
        unmatched: dict[int, Outcome] = {}
        for record, record_hints, client_id in zip(events.record, hints, client_ids, strict=True):
            if client_id is None and record not in unmatched:
                unmatched[record] = Outcome(
                    "unmatched",
                    f"no client found for {record_hints.describe()}",
                    hints=record_hints.pairs(),
                )
        kept = [i for i, record in enumerate(events.record) if record not in unmatched]
        return events.take(kept), [client_ids[i] for i in kept], unmatched

    def _receipt(self, count: int) -> dict[str, list]:
        """The payload the batch came in and the time it did, for every event."""
        return {"payload_id": [self.payload_id] * count, "received_at": [utcnow()] * count}

    def _count_collected(self, events: EventColumns, client_ids: list[int], new: list[int]):
        """The new events into the caches every write of events keeps
        (crm.event_caches: collected revenue, counts per day and kind)."""
        columns = [events[name] for name in ("kind", "occurred_at", "amount", "currency")]
        event_caches.record(self.session, [(client_ids[i], *(c[i] for c in columns)) for i in new])

    def _learn_aliases(self, events: EventColumns, client_ids: list[int], new: list[int]) -> None:
        column = events["aliases"]
        if not any(column):
            return
        aliases = {alias: client_ids[i] for i in new for alias in column[i]}
        self.new_hints.update(register_aliases(self.session, self.resolver, aliases))


def event_rows(events: EventColumns, client_ids: list[int]) -> dict[str, list]:
    """The events as rows of the events table, column by column, as Python
    values; but the payload and time of receipt (EventWriter._receipt)."""
    kinds, thread_keys = events["kind"], events["thread_key"]
    return {
        "client_id": client_ids,
        "source": list(map(_SOURCE.__getitem__, kinds)),
        "kind": kinds,
        "origin": events["origin"],
        "external_id": events["external_id"],
        "occurred_at": events["occurred_at"],
        "title": events["title"],
        "detail": events["detail"],
        "amount": events["amount"],
        "currency": events["currency"],
        "thread_type": [
            _THREAD[kind] if key else None for kind, key in zip(kinds, thread_keys, strict=True)
        ],
        "thread_key": thread_keys,
        "actor": events["actor"],
        "url": events["url"],
        "attributes": _stored_attributes(events),
    }


def _first_of_each(keys: list[tuple], attributes: list[dict]) -> list[int]:
    """Where each key first occurs: a natural key goes to the first event of
    the batch that has it, and later ones are duplicates; but an event a
    record told of itself goes before one another record implied
    (connectors.lifecycle), which carries less of the moment."""
    if len(set(keys)) == len(keys):
        return list(range(len(keys)))
    first: dict[tuple, int] = {}
    for position, key in enumerate(keys):
        taken = first.setdefault(key, position)
        told = IMPLIED_BY not in attributes[position]
        if taken != position and told and IMPLIED_BY in attributes[taken]:
            first[key] = position
    return list(first.values())


def _stored_attributes(events: EventColumns) -> list[dict]:
    """Each event's attributes with what it says about its thread's state
    (crm.threads.STATE_ATTRIBUTES), which is stored among them."""
    stated = [
        (name, events[name])
        for name in STATE_ATTRIBUTES
        if any(value is not None for value in events[name])
    ]
    if not stated:
        return events["attributes"]
    stored = [dict(attributes) for attributes in events["attributes"]]
    for name, column in stated:
        for attributes, value in zip(stored, column, strict=True):
            if value is not None:
                attributes[name] = value
    return stored


def thread_facts(events: EventColumns, client_ids: list[int]) -> dict[Thread, list[ThreadFact]]:
    """What each event says about its thread, for the threads that keep a state."""
    devices = map(device_of, events["attributes"])
    facts = zip(*(events[name] for name in ThreadFact._fields[:-1]), devices, strict=True)
    touched: dict[Thread, list[ThreadFact]] = defaultdict(list)
    for kind, key, client_id, values in zip(
        events["kind"], events["thread_key"], client_ids, facts, strict=True
    ):
        thread_type = _STATEFUL.get(kind)
        if thread_type and key:
            touched[(client_id, thread_type, key)].append(ThreadFact._make(values))
    return touched


def register_aliases(
    session: Session, resolver: ClientResolver, aliases: dict[tuple[str, str], int]
) -> list[tuple[str, str]]:
    """Register identities learnt from records; the first owner keeps each.
    Answers the ones that are new, whose waiting records can now be replayed."""
    if not aliases:
        return []
    known = set(
        rows_with_keys(
            session,
            Identity.__table__,
            ("system", "external_key"),
            ("system", "external_key"),
            aliases,
        )
    )
    fresh = [(s, k, c, utcnow()) for (s, k), c in aliases.items() if (s, k) not in known]
    insert_ignoring_conflicts(
        session,
        Identity.__table__,
        ("system", "external_key", "client_id", "created_at"),
        fresh,
        ("system", "external_key"),
    )
    resolver.forget(aliases)
    return [(system, key) for system, key, _, _ in fresh]
