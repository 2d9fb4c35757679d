"""The one ingest pipeline every connector goes through.

    store raw -> parse -> validate -> convert -> resolve client -> upsert
    events -> recompute thread state -> keep every other record in the inbox
    -> count

It commits once per batch, together with the run's counts, so a crash loses
at most the batch in flight and rerunning the input completes it: records
already written come back as duplicates, never as second copies.
"""

import contextlib
import dataclasses
import functools
import gc
import hashlib
import itertools
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import (
    ClientProfile,
    Connector,
    DeviceProfile,
    IdentityClaim,
    MeetingProfile,
    RecordError,
)
from connectors.device_writer import DeviceWriter
from connectors.meeting_writer import MeetingWriter
from connectors.parallel import Helpers, Shared, Solo, batched, processes_available
from connectors.readers import Record, UnreadableInput, format_of
from connectors.storable import (
    check_lengths,
    length_errors,
    may_hold_unstorable_text,
    scrubbed,
    unstorable_text,
)
from connectors.writers import ClientWriter, EventWriter, IdentityWriter, Outcome, PreparedEvents
from crm.database import chunks, rows_with_keys
from crm.models import InboxHint, InboxRecord, IngestRun, RawPayload
from crm.models.types import utcnow

DEFAULT_BATCH_SIZE = 5000
# What becomes of a record that the run's counts say all about: an accepted
# record is on the timeline, a duplicate is already there (or already waits
# in the inbox). Neither gets an inbox row: a rerun of a million-record file
# would otherwise store a million rows that say "already there".
KEPT_ONLY_AS_COUNTS = frozenset({"accepted", "duplicate"})


@contextlib.contextmanager
def _collecting_between_batches():
    """Pause automatic garbage collection while a run ingests.

    A batch makes some 100,000 container objects that all live until it
    ends, so the cyclic collector, left to itself, walks the whole heap about
    once a batch and finds nothing: a quarter of the ingest time. Reference
    counting frees memory as usual. A batch leaves some ten objects in
    cycles (measured at 20,000 records a batch), which wait for the first
    collection after the run: even ten million records leave a few thousand,
    where collecting after every batch cost a fortieth of the ingest time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Writers:
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


@dataclass(frozen=True)
class _Input:
    """One input being ingested, as every process that takes part knows it."""

    connector: Connector
    content: bytes | None  # None: read it from the payload (a helper does)
    filename: str | None
    payload_id: int
    run_id: int
    # Records a run resumed had written already: the first ones of the input,
    # since one process commits its batches in order.
    skip: int = 0


@dataclass
class _Batch:
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


@dataclass
class _Reading:
    """What a process found reading the inputs of a task, by run id: why an
    input could not be read, and how many records an input it read to the
    end holds. Every process finds the same; the coordinator's ends the runs."""

    unreadable: dict[int, str] = field(default_factory=dict)
    records: dict[int, int] = field(default_factory=dict)

    def all_written(self, run: IngestRun) -> bool:
        """Whether every record of the run's input is written (and counted)."""
        return run.id in self.records and run.total == self.records[run.id]


def _ingest_part(batch_size: int, session: Session, share: Shared, inputs: list[_Input]) -> set:
    """One process's part of shared inputs (see connectors.parallel.Helpers)."""
    return Pipeline(session, batch_size)._ingest_batches(inputs, share, _Reading())


def _readable(run: IngestRun) -> IngestRun:
    """The run of one input, or UnreadableInput if it failed for that reason
    (the only failure that ends a run without raising)."""
    if run.status == "failed":
        raise UnreadableInput(run.error)
    return run


class Pipeline:
    def __init__(
        self,
        session: Session,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: Callable[[int], None] | None = None,
        processes: int = 1,
    ):
        """`processes`: how many processes may ingest one input that holds
        more than a batch (see connectors.parallel); 1 where the caller
        cannot fork, such as a web request or a background job."""
        self.session = session
        self.batch_size = batch_size
        self.on_progress = on_progress or (lambda done: None)
        self.processes = processes
        self._helpers: Helpers | None = None
        # Stops the helpers: when close() calls it, or when the pipeline is
        # garbage collected, whichever comes first (then never again).
        self._stop_helpers: weakref.finalize | None = None

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the helper processes, if a big input started some. A pipeline
        that is garbage collected stops them too; a caller that ingests
        several files says when it is done."""
        if self._stop_helpers is not None:
            self._stop_helpers()
        self._helpers = self._stop_helpers = None

    def _helpers_for(self, processes: int) -> Helpers:
        """The helpers of this pipeline, forked at its first big input (or
        again, when the last ones failed)."""
        if self._helpers is None or not self._helpers.alive:
            self.close()
            work = functools.partial(_ingest_part, self.batch_size)
            self._helpers = Helpers(processes, self.session, work)
            self._stop_helpers = weakref.finalize(self, self._helpers.close)
        return self._helpers

    # --- entry points --------------------------------------------------------

    def ingest(
        self, connector: Connector, content: bytes, filename: str | None, started_by: str
    ) -> IngestRun:
        """Ingest one file or body. Raises UnreadableInput if it cannot be read
        at all; the payload and a failed run are kept even then."""
        [run] = self.ingest_all([(connector, content, filename)], started_by)
        return _readable(run)

    def ingest_payload(
        self,
        connector: Connector,
        payload: RawPayload,
        started_by: str,
        content: bytes | None = None,
        *,
        job_id: int | None = None,
    ) -> IngestRun:
        """Ingest a payload stored before (by `store_payload`), as `ingest` does:
        a background job stores the body in the request and ingests it later.
        `content`: the payload's bytes, if at hand (else they are read back).

        `job_id`: the job doing it. A run of the same job left running (its
        worker died) is resumed, not started again: its committed batches
        are the input's first records, in one process, so the rest goes on
        from there, and its counts describe the whole input once."""
        content = payload.content if content is None else content
        resumed = None
        if job_id is not None:
            resumed = self.session.scalar(
                select(IngestRun)
                .where(IngestRun.job_id == job_id, IngestRun.status == "running")
                .order_by(IngestRun.id.desc())
                .limit(1)
            )
        processes = 1 if resumed is not None else self._processes_for([content])
        [run] = self._ingest_stored(
            [(connector, payload, content)], started_by, processes, job_id=job_id, resumed=resumed
        )
        return _readable(run)

    def ingest_all(
        self, inputs: Sequence[tuple[Connector, bytes, str | None]], started_by: str
    ) -> list[IngestRun]:
        """Ingest several files, each `(connector, content, filename)` in a run
        of its own, as one stream of batches (see connectors.parallel): a
        process done with one file starts on the next while another writes
        the last batch of the one before. So a file may be read before the
        one before it is all written: a file whose records need another's
        (clients before their events) goes in a call of its own. A file that
        cannot be read at all fails its own run, which says why; the others
        go on."""
        processes = self._processes_for([content for _, content, _ in inputs])
        if processes > 1:
            # Forked before the payloads are stored: the fork closes every
            # connection, and closing SQLite's last one copies the WAL (which
            # would then hold the payloads) back into the database.
            self._helpers_for(processes)
        stored = [
            (connector, self.store_payload(connector, content, filename), content)
            for connector, content, filename in inputs
        ]
        return self._ingest_stored(stored, started_by, processes)

    def _processes_for(self, contents: list[bytes]) -> int:
        """How many processes share these inputs."""
        processes = processes_available(self.processes)
        # Records are about one a line in every format but a one-line JSON
        # array; below a few batches' worth, sharing gains nothing.
        if (
            processes > 1
            and sum(content.count(b"\n") for content in contents) < self.batch_size // 2
        ):
            return 1
        return processes

    def _ingest_stored(
        self,
        stored: list[tuple[Connector, RawPayload, bytes]],
        started_by: str,
        processes: int,
        *,
        job_id: int | None = None,
        resumed: IngestRun | None = None,
    ) -> list[IngestRun]:
        """Ingest stored payloads, a run each, with `processes` sharing them;
        the runs, ended (see ingest_all). `resumed`: the run of the one
        input, to go on with (see ingest_payload)."""
        runs = [resumed] if resumed is not None else []
        runs = runs or [
            self._start_run(connector.name, started_by, payload.filename, payload, job_id)
            for connector, payload, _ in stored
        ]
        skip = resumed.total if resumed is not None else 0
        if skip:
            self.on_progress(skip)  # done before: the progress counts all the input
        inputs = [
            _Input(connector, content, payload.filename, payload.id, run.id, skip)
            for (connector, payload, content), run in zip(stored, runs, strict=True)
        ]
        reading = _Reading()
        try:
            with _collecting_between_batches():
                if processes > 1:
                    helpers = self._helpers_for(processes)
                    # A helper reads the bytes from the stored payload: a copy
                    # through a pipe would cost this process a second copy of
                    # files that may be hundreds of megabytes.
                    sent = [dataclasses.replace(input_, content=None) for input_ in inputs]
                    ours = functools.partial(self._ingest_batches, inputs, reading=reading)
                    learnt = helpers.run(self.session, sent, self.on_progress, ours)
                else:
                    share = Solo(self.on_progress)
                    learnt = self._ingest_batches(inputs, share, reading)
        except BaseException as error:
            # An input whose every batch was committed before the error is
            # done; the others fail, and running them again completes them.
            self.session.rollback()
            for run in runs:
                if reading.all_written(run):
                    self._finish(run)
                else:
                    self._fail(run, f"{type(error).__name__}: {error}")
            raise
        for run in runs:
            if run.id in reading.unreadable:
                self._fail(run, reading.unreadable[run.id])
            else:
                self._finish(run)
        self.replay_matching(learnt, started_by=f"{started_by} (new identities)")
        return runs

    def _ingest_batches(
        self, inputs: list[_Input], share: Solo | Shared, reading: _Reading
    ) -> set[tuple[str, str]]:
        """Prepare and write every batch of the inputs that this process
        takes; answers the identities its batches taught. An input that
        cannot be read goes in `reading`, and the next one goes on."""
        learnt = set()
        for number, input_ in enumerate(inputs):
            try:
                records, taught = self._ingest_input(number, input_, share)
            except UnreadableInput as error:
                reading.unreadable[input_.run_id] = str(error)
            else:
                reading.records[input_.run_id] = records
                learnt |= taught
        return learnt

    def _ingest_input(self, number: int, input_: _Input, share: Solo | Shared) -> tuple[int, set]:
        """This process's batches of one input; how many records the input
        holds, and the identities its batches taught."""
        connector = input_.connector
        content = input_.content
        if content is None:
            content = self.session.scalar(
                select(RawPayload.content).where(RawPayload.id == input_.payload_id)
            )
        writers = _Writers(self.session, input_.payload_id)
        check_text = may_hold_unstorable_text(content)
        records = connector.parse(content, input_.filename)
        if input_.skip:
            records = itertools.islice(records, input_.skip, None)
        batches = share.batches(records, self.batch_size, first_input=number == 0)
        records_read = input_.skip
        for index, chunk in enumerate(batches):
            records_read += len(chunk)
            if not share.claim(number, index):
                continue
            batch = self._prepare(connector, chunk, writers, check_text)
            with share.writing():
                self._write(batch, writers)
                self._mark_already_waiting(connector, batch)
                self.session.add_all(
                    self._inbox_row(connector, record, outcome, input_.run_id, input_.payload_id)
                    for record, outcome in zip(batch.records, batch.outcomes, strict=True)
                    if outcome.status not in KEPT_ONLY_AS_COUNTS
                )
                self._commit_batch(input_.run_id, batch)
            share.wrote(len(chunk))
        return records_read, writers.new_hints()

    def replay(self, connector: Connector, inbox: Sequence[InboxRecord], started_by: str):
        """Run stored inbox records through the pipeline again.

        Records that now go through are marked `replayed`; the others keep
        their row, with the reason brought up to date. What the replayed
        records teach (a charge's id, a requester's organization) replays in
        turn the records that waited for it (see `replay_matching`).
        """
        run, learnt = self._replay(connector, inbox, started_by)
        self.replay_matching(learnt, started_by)
        return run

    def _replay(
        self, connector: Connector, inbox: Sequence[InboxRecord], started_by: str
    ) -> tuple[IngestRun, set[tuple[str, str]]]:
        """`replay` without following what it teaches: the run, and the
        identities its records taught."""
        records = [Record(row.position, row.locator, row.record) for row in inbox]
        # An edited record may carry text the database cannot hold: its row
        # keeps a copy it can before the run's first commit writes the row;
        # the record goes on as it is, to be rejected saying why.
        for row in inbox:
            if unstorable_text(row.record) is not None:
                row.record = scrubbed(row.record)
                row.natural_key = connector.key_of(row.record)[:255]
        run = self._start_run(connector.name, started_by, "inbox replay", None)
        writers = _Writers(self.session, payload_id=None)
        with _collecting_between_batches():
            for chunk in batched(range(len(inbox)), self.batch_size):
                batch = self._prepare(
                    connector, [records[i] for i in chunk], writers, check_text=True
                )
                self._write(batch, writers)
                for i, outcome in zip(chunk, batch.outcomes, strict=True):
                    self._update_inbox(inbox[i], outcome)
                self._commit_batch(run.id, batch)
                self.on_progress(len(chunk))
        return self._finish(run), writers.new_hints()

    def replay_matching(self, pairs: Iterable[tuple[str, str]], started_by: str) -> list[IngestRun]:
        """Replay every unmatched record that named one of these identities,
        and, transitively, every record waiting for an identity that those
        taught: mapping a Stripe customer replays its charges, whose ids
        then place the disputes that name only their charge, in one call.
        Ends, since every round replays records that were unmatched and
        follows only identities that are new."""
        runs: list[IngestRun] = []
        pending, followed = set(pairs), set()
        while pending:
            followed |= pending
            learnt: set[tuple[str, str]] = set()
            for connector, rows in self._waiting_for(pending).items():
                run, taught = self._replay(registry.get(connector), rows, started_by)
                runs.append(run)
                learnt |= taught
            pending = learnt - followed
        return runs

    def _waiting_for(self, pairs: set[tuple[str, str]]) -> dict[str, list[InboxRecord]]:
        """The unmatched records that named one of these identities, by connector."""
        hinted = rows_with_keys(
            self.session, InboxHint.__table__, ("record_id",), ("system", "key"), pairs
        )
        record_ids = sorted({record_id for (record_id,) in hinted})
        by_connector: dict[str, list[InboxRecord]] = {}
        for chunk in chunks(record_ids):
            rows = self.session.scalars(
                select(InboxRecord)
                .where(InboxRecord.id.in_(chunk), InboxRecord.status == "unmatched")
                .order_by(InboxRecord.id)
            )
            for row in rows:
                by_connector.setdefault(row.connector, []).append(row)
        return by_connector

    # --- one batch -----------------------------------------------------------

    def _prepare(self, connector, records, writers: "_Writers", check_text: bool) -> _Batch:
        """Everything about a batch that needs no writing: the records checked
        and converted, their events made ready (see EventWriter.prepare), and
        the outcome of each record that goes no further. `check_text`:
        whether a record may carry text the database cannot hold (see
        connectors.storable)."""
        batch = _Batch(records)
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
        batch.profiles = self._fitting(converted.profiles, batch)
        batch.claims = self._fitting(converted.claims, batch)
        batch.devices = self._fitting(converted.devices, batch)
        batch.meetings = self._fitting(converted.meetings, batch)
        return batch

    @staticmethod
    def _fitting(items: list[tuple[int, list]], batch: _Batch) -> list[tuple[int, list]]:
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

    def _write(self, batch: _Batch, writers: "_Writers") -> None:
        """Write what `_prepare` made ready; the outcome of every other record."""
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

    # --- the inbox and the run -----------------------------------------------

    def _mark_already_waiting(self, connector: Connector, batch: _Batch) -> None:
        """An unmatched record received again is a duplicate of the one that
        already waits, so mapping its identity replays it once, not twice."""
        keys = {
            connector.key_of(record.data)[:255]: i
            for i, (record, outcome) in enumerate(zip(batch.records, batch.outcomes, strict=True))
            if outcome.status == "unmatched"
        }
        waiting = {}
        for chunk in chunks(sorted(keys)):
            waiting.update(
                self.session.execute(
                    select(InboxRecord.natural_key, InboxRecord.id).where(
                        InboxRecord.connector == connector.name,
                        InboxRecord.status == "unmatched",
                        InboxRecord.natural_key.in_(chunk),
                    )
                ).all()
            )
        for key, inbox_id in waiting.items():
            batch.outcomes[keys[key]] = Outcome(
                "duplicate", f"already waiting in the inbox as unmatched record {inbox_id}"
            )

    def _inbox_row(self, connector, record, outcome, run_id, payload_id) -> InboxRecord:
        return InboxRecord(
            run_id=run_id,
            payload_id=payload_id,
            connector=connector.name,
            position=record.position,
            locator=record.locator,
            status=outcome.status,
            field=outcome.field,
            reason=outcome.reason or outcome.status,
            natural_key=connector.key_of(record.data)[:255],
            record=record.data,
            hints=[InboxHint(system=s, key=k[:254]) for s, k in outcome.hints],
        )

    def _update_inbox(self, row: InboxRecord, outcome: Outcome) -> None:
        if outcome.status in ("accepted", "duplicate"):
            row.status, row.replayed_at = "replayed", utcnow()
            row.reason = f"{row.reason} (replayed: {outcome.status})"
        else:
            row.status, row.field, row.reason = outcome.status, outcome.field, outcome.reason

    def store_payload(self, connector, content: bytes, filename) -> RawPayload:
        """The payload with these bytes, to be read in the format `filename`
        names, stored (and committed) unless it already is. The same bytes
        sent as another format are another payload: a JSON body sent as CSV
        by mistake must not make the same body, sent again as JSON, look
        already read."""
        digest = hashlib.sha256(content).hexdigest()
        try:
            media_type = format_of(filename, connector.default_format)
        except UnreadableInput:
            media_type = "unknown"
        payload = self.session.scalar(
            select(RawPayload)
            .where(
                RawPayload.sha256 == digest,
                RawPayload.connector == connector.name,
                RawPayload.media_type == media_type,
            )
            .limit(1)
        )
        if payload is None:
            payload = RawPayload(
                connector=connector.name,
                filename=filename,
                media_type=media_type,
                sha256=digest,
                size=len(content),
                content=content,
            )
            self.session.add(payload)
            self.session.commit()
        return payload

    def _start_run(
        self, connector_name, started_by, source_name, payload, job_id: int | None = None
    ) -> IngestRun:
        run = IngestRun(
            connector=connector_name,
            started_by=started_by,
            source_name=source_name,
            payload_id=payload.id if payload else None,
            job_id=job_id,
        )
        self.session.add(run)
        self.session.commit()
        return run

    def _commit_batch(self, run_id: int, batch: _Batch) -> None:
        """The batch's writes and the run's counts land together, or not at all.
        The counts are added in SQL: processes sharing a run never overwrite
        each other's (see connectors.parallel)."""
        runs = IngestRun.__table__
        counts = Counter(outcome.status for outcome in batch.outcomes)
        self.session.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(
                {runs.c.total: runs.c.total + len(batch.outcomes), runs.c.heartbeat_at: utcnow()}
                | {runs.c[status]: runs.c[status] + count for status, count in counts.items()}
            )
        )
        self.session.commit()

    def _fail(self, run: IngestRun, error: str) -> None:
        self.session.rollback()
        run.status, run.error, run.finished_at = "failed", error, utcnow()
        self.session.commit()

    def _finish(self, run: IngestRun) -> IngestRun:
        run.status, run.finished_at = "finished", utcnow()
        self.session.commit()
        return run
