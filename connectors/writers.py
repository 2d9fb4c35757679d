"""Where converted records meet the database: events and client profiles.

A writer takes `(record index, items)` pairs for one batch and answers with
an Outcome per record. It flushes; the pipeline commits.
"""

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from connectors.base import CanonicalEvent, ClientProfile, RecordError
from crm.database import insert_ignoring_conflicts, upsert
from crm.identities import ClientResolver, IdentityConflict, map_identity
from crm.models import Client, Contact, Entity, Event, Group
from crm.models.types import utcnow
from crm.threads import STATE_ATTRIBUTES, ThreadFact, fold
from crm.vocabulary import ENTITY_TYPES, KINDS

CHUNK = 500


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


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EventWriter:
    """Resolves clients, inserts new events once, recomputes their threads."""

    def __init__(self, session: Session, payload_id: int | None):
        self.session = session
        self.payload_id = payload_id
        self.resolver = ClientResolver(session)

    def write(self, items: list[tuple[int, list[CanonicalEvent]]]) -> dict[int, Outcome]:
        if not items:
            return {}
        outcomes: dict[int, Outcome] = {}
        self.resolver.prefetch(event.hints for _, events in items for event in events)
        rows_by_record: dict[int, list[dict]] = {}
        events_by_key: dict[tuple[str, str], CanonicalEvent] = {}
        for index, events in items:
            client_ids = [self.resolver.resolve(event.hints) for event in events]
            if None in client_ids:
                hints = events[client_ids.index(None)].hints
                outcomes[index] = Outcome(
                    "unmatched", f"no client found for {hints.describe()}", hints=hints.pairs()
                )
                continue
            rows_by_record[index] = [
                _event_row(event, client_id, self.payload_id)
                for event, client_id in zip(events, client_ids, strict=True)
            ]
            for event in events:
                events_by_key.setdefault((event.origin, event.external_id), event)

        new_rows = self._new_rows(rows_by_record)
        insert_ignoring_conflicts(
            self.session, Event.__table__, [row for _, row in new_rows], ("origin", "external_id")
        )
        fresh_records = {index for index, _ in new_rows}
        for index, rows in rows_by_record.items():
            outcomes[index] = (
                Outcome("accepted")
                if index in fresh_records
                else Outcome("duplicate", f"already on the timeline as {_key_text(rows)}")
            )
        self._refresh_threads(
            [(events_by_key[(r["origin"], r["external_id"])], r["client_id"]) for _, r in new_rows]
        )
        return outcomes

    def _new_rows(self, rows_by_record: dict[int, list[dict]]) -> list[tuple[int, dict]]:
        """(record index, row) for each row whose natural key is neither stored
        nor taken by an earlier record of the batch."""
        candidates = [(index, row) for index, rows in rows_by_record.items() for row in rows]
        keys = sorted({(row["origin"], row["external_id"]) for _, row in candidates})
        seen = set()
        for chunk in _chunks(keys):
            seen.update(
                self.session.execute(
                    select(Event.origin, Event.external_id).where(
                        tuple_(Event.origin, Event.external_id).in_(chunk)
                    )
                ).tuples()
            )
        new_rows = []
        for index, row in candidates:
            key = (row["origin"], row["external_id"])
            if key not in seen:
                seen.add(key)
                new_rows.append((index, row))
        return new_rows

    def _refresh_threads(self, new_events: list[tuple[CanonicalEvent, int]]) -> None:
        """Recompute the state of every thread that just gained an event.

        A thread with no entity yet has no stored events besides this batch's,
        so its state folds from memory; one that exists folds from all of its
        stored events (this batch's are already written).
        """
        touched: dict[tuple[int, str, str], list[ThreadFact]] = defaultdict(list)
        for event, client_id in new_events:
            thread_type = KINDS[event.kind].thread
            if thread_type in ENTITY_TYPES and event.thread_key:
                touched[(client_id, thread_type, event.thread_key)].append(_fact(event))
        if not touched:
            return
        existing = self._existing_threads(list(touched))
        if existing:
            stored = self._stored_facts(existing)
            touched.update(stored)
        rows = [
            {"client_id": client_id, "key": key} | fold(thread_type, facts)
            for (client_id, thread_type, key), facts in touched.items()
        ]
        for chunk in _chunks(rows):
            upsert(self.session, Entity.__table__, chunk, ("client_id", "type", "key"))

    def _existing_threads(self, keys: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        found = []
        for chunk in _chunks(sorted(keys)):
            found += self.session.execute(
                select(Entity.client_id, Entity.type, Entity.key).where(
                    tuple_(Entity.client_id, Entity.type, Entity.key).in_(chunk)
                )
            ).tuples()
        return found

    def _stored_facts(self, keys: list[tuple[int, str, str]]) -> dict:
        facts: dict[tuple[int, str, str], list[ThreadFact]] = defaultdict(list)
        for chunk in _chunks(sorted(keys)):
            rows = self.session.execute(
                select(
                    Event.client_id,
                    Event.thread_type,
                    Event.thread_key,
                    Event.occurred_at,
                    Event.kind,
                    Event.external_id,
                    Event.title,
                    Event.amount,
                    Event.currency,
                    Event.attributes,
                ).where(tuple_(Event.client_id, Event.thread_type, Event.thread_key).in_(chunk))
            )
            for client_id, thread_type, key, *values in rows:
                facts[(client_id, thread_type, key)].append(ThreadFact.from_stored(*values))
        return facts


def _key_text(rows: list[dict]) -> str:
    return ", ".join(f"{row['origin']}:{row['external_id']}" for row in rows)


def _event_row(event: CanonicalEvent, client_id: int, payload_id: int | None) -> dict:
    kind = KINDS[event.kind]
    attributes = dict(event.attributes)
    for name in STATE_ATTRIBUTES:
        value = getattr(event, name)
        if value is not None:
            attributes[name] = value.isoformat() if isinstance(value, datetime) else value
    return {
        "client_id": client_id,
        "source": kind.source,
        "kind": event.kind,
        "origin": event.origin,
        "external_id": event.external_id,
        "occurred_at": event.occurred_at,
        "title": event.title,
        "detail": event.detail,
        "amount": event.amount,
        "currency": event.currency,
        "thread_type": kind.thread if event.thread_key else None,
        "thread_key": event.thread_key,
        "actor": event.actor,
        "url": event.url,
        "attributes": attributes,
        "payload_id": payload_id,
        "received_at": utcnow(),
    }


def _fact(event: CanonicalEvent) -> ThreadFact:
    return ThreadFact(
        event.occurred_at,
        event.kind,
        event.external_id,
        event.title,
        event.amount,
        event.currency,
        event.status,
        event.due_at,
        event.priority,
        event.category,
        event.assignee,
        event.sla_due_at,
    )


class ClientWriter:
    """Creates or updates clients by slug, with groups, contacts and identities.

    Collects the hints its writes make resolvable (`new_hints`), so that the
    pipeline can replay the records that were waiting for them.
    """

    def __init__(self, session: Session):
        self.session = session
        self.new_hints: set[tuple[str, str]] = set()
        self._groups: dict[tuple[str, str], Group] = {}

    def write(self, items: list[tuple[int, list[ClientProfile]]]) -> dict[int, Outcome]:
        outcomes = {}
        for index, profiles in items:
            for profile in profiles:
                savepoint = self.session.begin_nested()
                try:
                    changed = self._write(profile)
                except IdentityConflict as conflict:
                    savepoint.rollback()
                    outcomes[index] = Outcome("rejected", f"identities {conflict}", "identities")
                    break
                savepoint.commit()
                outcomes[index] = (
                    Outcome("accepted")
                    if changed
                    else Outcome("duplicate", f"client {profile.slug} is already up to date")
                )
        return outcomes

    def _write(self, profile: ClientProfile) -> bool:
        client = self.session.scalar(select(Client).where(Client.slug == profile.slug))
        created = client is None
        if created:
            client = Client(slug=profile.slug)
            self.session.add(client)
            self.new_hints.add(("touchline", profile.slug))
        changed = created
        for name in (
            "name",
            "tier",
            "industry",
            "country",
            "language",
            "timezone",
            "account_manager",
            "customer_since",
            "status",
            "notes",
        ):
            value = getattr(profile, name)
            if getattr(client, name) != value:
                setattr(client, name, value)
                changed = True
        for kind, name in profile.groups:
            group = self._group(kind, name)
            if group not in client.groups:
                client.groups.append(group)
                changed = True
        changed |= self._merge_contacts(client, profile)
        self.session.flush()
        for system, key in profile.identities:
            known = {(i.system, i.external_key) for i in client.identities}
            identity = map_identity(self.session, system, key, client)
            if (identity.system, identity.external_key) not in known:
                changed = True
                self.new_hints.add((identity.system, identity.external_key))
        return changed

    def _merge_contacts(self, client: Client, profile: ClientProfile) -> bool:
        """Add or update contacts, matched by email, else by name; never delete."""
        changed = False
        for person in profile.contacts:
            email = person.email.lower() if person.email else None
            match = next(
                (
                    c
                    for c in client.contacts
                    if (email and c.email == email) or (not email and c.name == person.name)
                ),
                None,
            )
            if match is None:
                match = Contact(name=person.name, email=email)
                client.contacts.append(match)
                changed = True
                if email:
                    self.new_hints.update({("email", email), ("domain", email.rpartition("@")[2])})
            for name in ("name", "phone", "role"):
                if getattr(match, name) != getattr(person, name):
                    setattr(match, name, getattr(person, name))
                    changed = True
        return changed

    def _group(self, kind: str, name: str) -> Group:
        if (kind, name) not in self._groups:
            group = self.session.scalar(select(Group).where(Group.kind == kind, Group.name == name))
            if group is None:
                group = Group(kind=kind, name=name)
                self.session.add(group)
            self._groups[(kind, name)] = group
        return self._groups[(kind, name)]
