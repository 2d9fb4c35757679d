"""The stages one batch of records goes through, in order:

    check (unreadable, unstorable text) -> convert -> check lengths
    -> resolve the client and write (events, clients, identities, devices;
       threads are folded as their events are written)

`prepare` does everything that needs no writing, so that a process sharing
an input can prepare its next batch while another writes; `write` writes.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from connectors.base import (
    ClientProfile,
    DeviceProfile,
    IdentityClaim,
    MeetingProfile,
    RecordError,
)
from connectors.client_writers import ClientWriter, IdentityWriter
from connectors.device_writer import DeviceWriter
from connectors.meeting_writer import MeetingWriter
from connectors.readers import Record
from connectors.storable import check_lengths, length_errors, scrubbed, unstorable_text
from connectors.writers import EventWriter, Outcome, PreparedEvents


class Writers:
    """The writers of one run; they keep their lookups warm across batches."""

    def __init__(self, session: Session, payload_id: int | None):
        self.events = EventWriter(session, payload_id)
        self.clients = ClientWriter(session)
        self.identities = IdentityWriter(session)
        self.devices = DeviceWriter(session)
        self.meetings = MeetingWriter(session)

    def new_hints(self) -> set[tuple[str, str]]:
        """Identities the run taught us, whose waiting records can now go in."""
        writers = (self.events, self.clients, self.identities, self.devices, self.meetings)
        return set().union(*(writer.new_hints for writer in writers))


@dataclass
class Batch:
    """The records of one batch, what is ready to be written of them, and
    what became of each."""

    records: Sequence[Record]
    outcomes: list[Outcome | None] = field(default_factory=list)
    events: PreparedEvents | None = None
    profiles: list[tuple[int, list[ClientProfile]]] = field(default_factory=list)
    claims: list[tuple[int, list[IdentityClaim]]] = field(default_factory=list)
    devices: list[tuple[int, list[DeviceProfile]]] = field(default_factory=list)
    meetings: list[tuple[int, list[MeetingProfile]]] = field(default_factory=list)

    def __post_init__(self):
        self.outcomes = [None] * len(self.records)


def prepare(connector, records, writers: Writers, check_text: bool) -> Batch:
    """Everything about a batch that needs no writing: the records checked
    and converted, their events made ready (see EventWriter.prepare), and
    the outcome of each record that goes no further. `check_text`:
    whether a record may carry text the database cannot hold (see
    connectors.storable)."""
    batch = Batch(records)
    for i, record in enumerate(records):
        unstorable = unstorable_text(record.data) if check_text else None
        if unstorable is not None:
            record.data = scrubbed(record.data)  # for its inbox row
            batch.outcomes[i] = Outcome.rejected(unstorable)
        elif record.parse_error is not None:
            batch.outcomes[i] = Outcome.rejected(RecordError(None, record.parse_error))
    readable = [i for i, outcome in enumerate(batch.outcomes) if outcome is None]
    converted = connector.convert_batch([records[i] for i in readable])
    if len(readable) < len(records):
        converted = converted.remapped(readable)
    for i, error in converted.failed.items():
        batch.outcomes[i] = Outcome.failed(error)
    too_long = length_errors(converted.events)
    for i, error in too_long.items():
        batch.outcomes[i] = Outcome.rejected(error)
    batch.events = writers.events.prepare(converted.events.without_records(set(too_long)))
    batch.profiles = _fitting(converted.profiles, batch)
    batch.claims = _fitting(converted.claims, batch)
    batch.devices = _fitting(converted.devices, batch)
    batch.meetings = _fitting(converted.meetings, batch)
    return batch


def _fitting(items: list[tuple[int, list]], batch: Batch) -> list[tuple[int, list]]:
    """The records whose values fit their columns; the others are rejected."""
    fitting = []
    for i, converted_items in items:
        try:
            check_lengths(converted_items)
        except RecordError as error:
            batch.outcomes[i] = Outcome.rejected(error)
        else:
            fitting.append((i, converted_items))
    return fitting


def write(batch: Batch, writers: Writers) -> None:
    """Write what `prepare` made ready; the outcome of every other record."""
    written = writers.events.write(batch.events) if batch.events is not None else {}
    if batch.profiles:
        written |= writers.clients.write(batch.profiles)
    if batch.claims:
        written |= writers.identities.write(batch.claims)
    if batch.devices:
        written |= writers.devices.write(batch.devices)
    if batch.meetings:
        written |= writers.meetings.write(batch.meetings)
    for i, outcome in written.items():
        batch.outcomes[i] = outcome
