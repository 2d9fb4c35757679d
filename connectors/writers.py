"""Where converted records meet the database: events and client profiles.

A writer takes `(record index, items)` pairs for one batch and answers with
an Outcome per record. It flushes; the pipeline commits.
"""

import dataclasses
import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import CanonicalEvent, ClientProfile, IdentityClaim, RecordError
from crm.database import insert_ignoring_conflicts, rows_with_keys, upsert
from crm.identities import ClientResolver, IdentityConflict, map_identity
from crm.models import Client, Contact, Entity, Event, Group, Identity
from crm.models.types import utcnow
from crm.threads import STATE_ATTRIBUTES, ThreadFact, fold
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


# Columns of an event row as EventWriter writes it, in this order.
EVENT_COLUMNS = (
    "client_id",
    "source",
    "kind",
    "origin",
    "external_id",
    "occurred_at",
    "title",
    "detail",
    "amount",
    "currency",
    "thread_type",
    "thread_key",
    "actor",
    "url",
    "attributes",
    "payload_id",
    "received_at",
)
THREAD_COLUMNS = ("client_id", "thread_type", "thread_key")
# What a stored event says about its thread, as ThreadFact.from_stored takes it.
FACT_COLUMNS = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")
ENTITY_STATE = (
    "type",
    "status",
    "title",
    "opened_at",
    "closed_at",
    "due_at",
    "amount",
    "currency",
    "priority",
    "category",
    "assignee",
    "sla_due_at",
    "last_event_at",
    "event_count",
)
_state_values = operator.itemgetter(*ENTITY_STATE)

# Most records are simply accepted; they share one Outcome, which nobody changes.
ACCEPTED = Outcome("accepted")


class EventWriter:
    """Resolves clients, inserts new events once, recomputes their threads."""

    def __init__(self, session: Session, payload_id: int | None):
        self.session = session
        self.payload_id = payload_id
        self.resolver = ClientResolver(session)
        # Aliases learnt from written events, for the pipeline to replay.
        self.new_hints: set[tuple[str, str]] = set()

    def write(self, items: list[tuple[int, list[CanonicalEvent]]]) -> dict[int, Outcome]:
        if not items:
            return {}
        outcomes: dict[int, Outcome] = {}
        self.resolver.prefetch(event.hints for _, events in items for event in events)
        resolved: list[tuple[int, list[CanonicalEvent], list[int]]] = []
        for index, events in items:
            client_ids = [self.resolver.resolve(event.hints) for event in events]
            if None in client_ids:
                hints = events[client_ids.index(None)].hints
                outcomes[index] = Outcome(
                    "unmatched", f"no client found for {hints.describe()}", hints=hints.pairs()
                )
                continue
            resolved.append((index, events, client_ids))

        new = self._new_events(resolved)
        fresh_records = {index for index, _, _ in new}
        for index, events, _ in resolved:
            outcomes[index] = (
                ACCEPTED
                if index in fresh_records
                else Outcome("duplicate", f"already on the timeline as {_key_text(events)}")
            )
        # Before the insert, so that the stored events it reads are exactly
        # the thread's events from earlier batches.
        self._refresh_threads([(event, client_id) for _, event, client_id in new])
        received_at = utcnow()
        insert_ignoring_conflicts(
            self.session,
            Event.__table__,
            EVENT_COLUMNS,
            [
                _event_row(event, client_id, self.payload_id, received_at)
                for _, event, client_id in new
            ],
            ("origin", "external_id"),
        )
        self._learn_aliases(new)
        return outcomes

    def _learn_aliases(self, new: list[tuple[int, CanonicalEvent, int]]) -> None:
        aliases = {alias: client_id for _, event, client_id in new for alias in event.aliases}
        self.new_hints.update(register_aliases(self.session, self.resolver, aliases))

    def _new_events(self, resolved) -> list[tuple[int, CanonicalEvent, int]]:
        """(record index, event, client id) for each event whose natural key is
        neither stored nor taken by an earlier record of the batch."""
        candidates = [
            (index, event, client_id)
            for index, events, client_ids in resolved
            for event, client_id in zip(events, client_ids, strict=True)
        ]
        keys = {(event.origin, event.external_id) for _, event, _ in candidates}
        seen = set(
            rows_with_keys(
                self.session,
                Event.__table__,
                ("origin", "external_id"),
                ("origin", "external_id"),
                keys,
            )
        )
        new = []
        for candidate in candidates:
            event = candidate[1]
            key = (event.origin, event.external_id)
            if key not in seen:
                seen.add(key)
                new.append(candidate)
        return new

    def _refresh_threads(self, new_events: list[tuple[CanonicalEvent, int]]) -> None:
        """Recompute the state of every thread that gains an event.

        The state folds from the thread's stored events together with this
        batch's new ones, whatever order they came in (see crm.threads).
        """
        touched: dict[tuple[int, str, str], list[ThreadFact]] = defaultdict(list)
        for event, client_id in new_events:
            thread_type = KINDS[event.kind].thread
            if thread_type in ENTITY_TYPES and event.thread_key:
                touched[(client_id, thread_type, event.thread_key)].append(_fact(event))
        if not touched:
            return
        stored = rows_with_keys(
            self.session, Event.__table__, THREAD_COLUMNS + FACT_COLUMNS, THREAD_COLUMNS, touched
        )
        for client_id, thread_type, key, *values in stored:
            touched[(client_id, thread_type, key)].append(ThreadFact.from_stored(*values))
        rows = [
            (client_id, key, *_state_values(fold(thread_type, facts)))
            for (client_id, thread_type, key), facts in touched.items()
        ]
        upsert(
            self.session,
            Entity.__table__,
            ("client_id", "key", *ENTITY_STATE),
            rows,
            ("client_id", "type", "key"),
        )


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


class IdentityWriter:
    """Resolves identity claims and registers their aliases for the client."""

    def __init__(self, session: Session):
        self.session = session
        self.resolver = ClientResolver(session)
        self.new_hints: set[tuple[str, str]] = set()

    def write(self, items: list[tuple[int, list[IdentityClaim]]]) -> dict[int, Outcome]:
        self.resolver.prefetch(claim.hints for _, claims in items for claim in claims)
        outcomes = {}
        for index, claims in items:
            outcome = ACCEPTED
            for claim in claims:
                client_id = self.resolver.resolve(claim.hints)
                if client_id is None:
                    reason = f"no client found for {claim.hints.describe()}"
                    outcome = Outcome("unmatched", reason, hints=claim.hints.pairs())
                    break
                fresh = register_aliases(
                    self.session, self.resolver, dict.fromkeys(claim.aliases, client_id)
                )
                self.new_hints.update(fresh)
                if not fresh:
                    names = ", ".join(f"{s} {k}" for s, k in claim.aliases)
                    outcome = Outcome("duplicate", f"identities already known: {names}")
            outcomes[index] = outcome
        return outcomes


def _key_text(events: list[CanonicalEvent]) -> str:
    return ", ".join(f"{event.origin}:{event.external_id}" for event in events)


def _event_row(event: CanonicalEvent, client_id: int, payload_id: int | None, received_at) -> tuple:
    """The event as a row in EVENT_COLUMNS order."""
    kind = KINDS[event.kind]
    attributes = dict(event.attributes)
    for name in STATE_ATTRIBUTES:
        value = getattr(event, name)
        if value is not None:
            attributes[name] = value.isoformat() if isinstance(value, datetime) else value
    return (
        client_id,
        kind.source,
        event.kind,
        event.origin,
        event.external_id,
        event.occurred_at,
        event.title,
        event.detail,
        event.amount,
        event.currency,
        kind.thread if event.thread_key else None,
        event.thread_key,
        event.actor,
        event.url,
        attributes,
        payload_id,
        received_at,
    )


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
