"""What a connector is: a parser and a mapper, nothing that touches the database.

A connector declares its name, its source and the natural key of its records,
turns an input into records (`parse`), checks them (`validate`) and maps each
valid record to what it means for Touchline (`convert`): canonical events for
the timeline, or client profiles. The shared pipeline does everything else.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from marshmallow import Schema, ValidationError

from connectors.readers import Record, format_of, read_records
from crm.identities import ClientHints


class RecordError(ValueError):
    """A record is wrong: names the field and says what is wrong with it."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class Skip(Exception):
    """A well-formed record of a type Touchline does not map (kept as `skipped`)."""


@dataclass(slots=True)
class CanonicalEvent:
    """One timeline fact as a connector understood it, before it has a client."""

    origin: str
    external_id: str
    kind: str
    occurred_at: datetime
    hints: ClientHints
    title: str
    detail: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    thread_key: str | None = None
    actor: str | None = None
    url: str | None = None
    attributes: dict = field(default_factory=dict)
    # What the event says about its thread's state (see crm.threads).
    status: str | None = None
    due_at: datetime | None = None
    priority: str | None = None
    category: str | None = None
    assignee: str | None = None
    sla_due_at: datetime | None = None
    # Identities this event reveals for its client, e.g. a Stripe charge id:
    # once the event is written they resolve later records that name only
    # them (a dispute carries its charge id, not the customer).
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class ContactProfile:
    name: str
    email: str | None = None
    phone: str | None = None
    role: str | None = None


@dataclass(slots=True)
class ClientProfile:
    """A client as an import describes it; written by slug, the natural key."""

    slug: str
    name: str
    tier: str = "new"
    industry: str | None = None
    country: str | None = None
    language: str | None = None
    timezone: str = "UTC"
    account_manager: str | None = None
    customer_since: date | None = None
    status: str = "active"
    notes: str | None = None
    groups: list[tuple[str, str]] = field(default_factory=list)
    contacts: list[ContactProfile] = field(default_factory=list)
    identities: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class IdentityClaim:
    """A record that names one client in several systems at once, such as a
    Zendesk organization with its email domains. It resolves by any of its
    `hints`; then every alias is registered for that client, so the records
    waiting for them go in."""

    hints: ClientHints
    aliases: tuple[tuple[str, str], ...]


Converted = CanonicalEvent | ClientProfile | IdentityClaim


class Connector:
    name: ClassVar[str]
    source: ClassVar[str]
    # Fields of a record that identify it in its own system.
    natural_key: ClassVar[tuple[str, ...]]
    schema: ClassVar[type[Schema]]
    default_format: ClassVar[str] = "json"
    # How its webhooks are signed: "stripe", or "hmac" (see connectors.signatures).
    signature_scheme: ClassVar[str] = "hmac"

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        return read_records(content, format_of(filename, self.default_format))

    def validate(self, records: Sequence[Record]) -> list[dict | RecordError]:
        """Load each record with the marshmallow schema, or say what is wrong.

        Records the schema is not for (`schema_applies` says no) pass through
        as they are, for `convert` to read or skip by name. Connectors with
        large file inputs may override this with a column-at-a-time check
        that gives the same answers.
        """
        schema = self.schema()
        results: list[dict | RecordError] = []
        for record in records:
            if not self.schema_applies(record.data):
                results.append(record.data)
                continue
            try:
                results.append(schema.load(record.data))
            except ValidationError as error:
                results.append(first_error(error.messages))
        return results

    def schema_applies(self, data: dict) -> bool:
        """Whether `schema` describes this record; others reach `convert` raw."""
        return True

    def key_of(self, data: dict) -> str:
        """The natural key of a raw record, for the inbox; best effort."""
        return ":".join(str(data.get(name, "")) for name in self.natural_key)

    def convert(self, data: dict) -> list[Converted]:
        """Map one validated record; raise Skip or RecordError when it cannot."""
        raise NotImplementedError


def first_error(messages) -> RecordError:
    """The first field error of a marshmallow error dict, as a RecordError."""
    if isinstance(messages, dict):
        name, value = next(iter(messages.items()))
        while isinstance(value, dict):
            inner, value = next(iter(value.items()))
            name = f"{name}.{inner}"
        text = value[0] if isinstance(value, list) else str(value)
        return RecordError(None if name == "_schema" else str(name), str(text))
    return RecordError(None, messages[0] if isinstance(messages, list) else str(messages))
