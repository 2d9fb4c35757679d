"""What a connector is: a parser and a mapper, nothing that touches the database.

A connector declares its name, its source and the natural key of its records,
turns an input into records (`parse`), checks them (`validate`) and maps each
valid record to what it means for Touchline (`convert`): canonical events for
the timeline, or client profiles. The pipeline asks for a batch at a time
(`convert_batch`), and does everything else.
"""

import dataclasses
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from marshmallow import Schema, ValidationError

from connectors.readers import Record, format_of, read_records
from crm.errors import FieldError
from crm.identities import ClientHints


class RecordError(FieldError):
    """A record is wrong: names the field and says what is wrong with it."""


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


# What a profile says of its client: the columns of its row (crm.models.Client),
# the slug (its key) and what is written to rows of its own left out.
CLIENT_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ClientProfile)
    if f.name not in ("slug", "groups", "contacts", "identities")
)


@dataclass(slots=True)
class IdentityClaim:
    """A record that names one client in several systems at once, such as a
    Zendesk organization with its email domains. It resolves by any of its
    `hints`; then every alias is registered for that client, so the records
    waiting for them go in."""

    hints: ClientHints
    aliases: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class DeviceProfile:
    """A device as an RMM's inventory lists it (connectors.devices): written
    for the client its `hints` find, by its hostname; its hostname (and DNS
    name) then place that client's alerts (crm.devices)."""

    hints: ClientHints
    hostname: str
    dns_name: str | None = None
    serial_number: str | None = None
    site: str | None = None
    operating_system: str | None = None
    device_type: str | None = None
    last_seen_at: datetime | None = None
    rmm: str | None = None
    rmm_id: str | None = None
    # Other keys the RMM names the device by (a NinjaOne device id), registered
    # for its client with its hosts, so alerts that name only them find it.
    aliases: tuple[tuple[str, str], ...] = ()


# What an inventory says of a device: the columns of its row (crm.models.Device).
DEVICE_FIELDS = tuple(
    f.name for f in dataclasses.fields(DeviceProfile) if f.name not in ("hints", "aliases")
)


@dataclass(slots=True)
class MeetingProfile:
    """A meeting as a calendar holds it (connectors.ical): written for the
    one client its attendees' addresses find (connectors.meeting_writer), by
    `external_id` (the event's UID and occurrence), as a planned meeting."""

    hints: ClientHints
    external_id: str
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime | None = None
    attendees: list[dict] = field(default_factory=list)
    agenda: str | None = None
    owner: str | None = None
    cancelled: bool = False


Converted = CanonicalEvent | ClientProfile | IdentityClaim | DeviceProfile | MeetingProfile


# --- a batch of converted records ----------------------------------------------
#
# A big file's batch holds thousands of events, and every step after
# conversion (checking lengths, resolving clients, building rows, folding
# threads) reads one field of all of them at a time. Holding them as one list
# per field lets those steps run over lists instead of objects, and lets a
# connector that checks its records column by column (the generic formats)
# hand its columns over without ever building an object per event.

EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(CanonicalEvent))
# Fields a connector may leave out of its columns: those with a plain default.
_EVENT_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(CanonicalEvent)
    if f.default is not dataclasses.MISSING
}
_event_values = operator.attrgetter(*EVENT_FIELDS)


class EventColumns:
    """Canonical events as one list per CanonicalEvent field, and `record`:
    the position, in its batch, of the record each event came from."""

    __slots__ = ("columns", "record")

    def __init__(self, record: list[int], columns: dict[str, list]):
        for name in _EVENT_DEFAULTS.keys() - columns.keys():
            columns[name] = [_EVENT_DEFAULTS[name]] * len(record)
        if columns.keys() != set(EVENT_FIELDS) or any(
            len(column) != len(record) for column in columns.values()
        ):
            raise ValueError(f"events need {', '.join(EVENT_FIELDS)}, one value per event")
        self.record = record
        self.columns = columns

    @classmethod
    def from_events(cls, items: Iterable[tuple[int, list[CanonicalEvent]]]) -> "EventColumns":
        record, events = [], []
        for position, converted in items:
            record += [position] * len(converted)
            events += converted
        if not events:
            return cls([], {name: [] for name in EVENT_FIELDS})
        values = zip(*map(_event_values, events), strict=True)
        return cls(record, dict(zip(EVENT_FIELDS, map(list, values), strict=True)))

    def __len__(self) -> int:
        return len(self.record)

    def __getitem__(self, name: str) -> list:
        return self.columns[name]

    def take(self, positions: Sequence[int]) -> "EventColumns":
        """The events at these positions, in this order."""
        if len(positions) < 2:
            return EventColumns(
                [self.record[i] for i in positions],
                {name: [column[i] for i in positions] for name, column in self.columns.items()},
            )
        pick = operator.itemgetter(*positions)
        return EventColumns(
            list(pick(self.record)),
            {name: list(pick(column)) for name, column in self.columns.items()},
        )

    def without_records(self, records: set[int]) -> "EventColumns":
        """These events but those of the given records."""
        if not records or not records.intersection(self.record):
            return self
        return self.take([i for i, record in enumerate(self.record) if record not in records])

    def remapped(self, positions: Sequence[int]) -> "EventColumns":
        """The same events, the record at position `p` now at `positions[p]`."""
        return EventColumns([positions[p] for p in self.record], self.columns)

    def event(self, i: int) -> CanonicalEvent:
        """The event at position `i` as an object, for messages and tests."""
        return CanonicalEvent(**{name: column[i] for name, column in self.columns.items()})


@dataclass
class ConvertedBatch:
    """What a batch of records became, each record known by its position in
    the batch: events, client profiles, identity claims and devices, and the
    records that were skipped or are wrong."""

    events: EventColumns = field(default_factory=lambda: EventColumns.from_events([]))
    profiles: list[tuple[int, list[ClientProfile]]] = field(default_factory=list)
    claims: list[tuple[int, list[IdentityClaim]]] = field(default_factory=list)
    failed: dict[int, RecordError | Skip] = field(default_factory=dict)
    devices: list[tuple[int, list[DeviceProfile]]] = field(default_factory=list)
    meetings: list[tuple[int, list[MeetingProfile]]] = field(default_factory=list)

    @classmethod
    def of(cls, converted: Iterable[tuple[int, list[Converted]]], failed) -> "ConvertedBatch":
        """A batch from each record's converted items (all of one type)."""
        events, profiles, claims, devices, meetings = [], [], [], [], []
        by_type = {
            CanonicalEvent: events,
            ClientProfile: profiles,
            IdentityClaim: claims,
            DeviceProfile: devices,
            MeetingProfile: meetings,
        }
        for position, items in converted:
            if items:
                by_type[type(items[0])].append((position, items))
            else:
                failed[position] = Skip("the record holds nothing Touchline keeps")
        return cls(EventColumns.from_events(events), profiles, claims, failed, devices, meetings)

    def remapped(self, positions: Sequence[int]) -> "ConvertedBatch":
        """The same batch, the record at position `p` now at `positions[p]`."""
        return ConvertedBatch(
            self.events.remapped(positions),
            [(positions[p], items) for p, items in self.profiles],
            [(positions[p], items) for p, items in self.claims],
            {positions[p]: error for p, error in self.failed.items()},
            [(positions[p], items) for p, items in self.devices],
            [(positions[p], items) for p, items in self.meetings],
        )


class Connector:
    name: ClassVar[str]
    # Fields of a record that identify it in its own system.
    natural_key: ClassVar[tuple[str, ...]]
    schema: ClassVar[type[Schema]]
    default_format: ClassVar[str] = "json"

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

    def convert_batch(self, records: Sequence[Record]) -> ConvertedBatch:
        """Validate and convert a batch of records, each known by its position.

        By default each record is validated and converted on its own; a
        connector for large files may override this to work column by column.
        """
        converted, failed = [], {}
        for position, result in enumerate(self.validate(records)):
            if isinstance(result, RecordError):
                failed[position] = result
                continue
            try:
                converted.append((position, self.convert(result)))
            except (Skip, RecordError) as error:
                failed[position] = error
        return ConvertedBatch.of(converted, failed)

    # Whether its webhooks must be answered `200` with an empty body (Xero
    # counts anything else, 202 included, as a failed delivery).
    webhook_empty_answer: ClassVar[bool] = False
    # Whether a GET of its webhook URL answers 200 (nothing stored): the
    # sender's check of the URL before it saves it (Mailchimp's).
    webhook_answers_get: ClassVar[bool] = False

    def webhook_handshake(self, body: bytes) -> bool:
        """Whether a signed webhook body is the sender's check that the
        endpoint answers (Xero's intent-to-receive), to be answered 200 with
        nothing stored."""
        return False

    def schema_applies(self, data: dict) -> bool:
        """Whether `schema` describes this record; others reach `convert` raw."""
        return True

    def key_of(self, data: dict) -> str:
        """The natural key of a raw record, for the inbox; best effort."""
        return ":".join(str(data.get(name, "")) for name in self.natural_key)

    def convert(self, data: dict) -> list[Converted]:
        """Map one validated record; raise Skip or RecordError when it cannot."""
        raise NotImplementedError


def as_list(converted: Converted | list[Converted]) -> list[Converted]:
    """What a record became, as `convert` answers it: a type's mapping gives
    one item (a claim, a payment) or several (an invoice's steps)."""
    return converted if isinstance(converted, list) else [converted]


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
