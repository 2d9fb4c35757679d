"""The pipeline: the entry points (a file, a stored payload, several files, a
replay) and how one input's batches go, in one process or shared by several.

For each batch, in this order (see `_ingest_input`):

    stages.prepare    check, convert, check lengths, make events ready
    stages.write      resolve clients, write events (threads fold), profiles,
                      identities, devices
    inbox.keep        every record that did not simply go in, kept with why
    runs.commit_batch the batch's writes and the run's counts, in one commit
"""

import dataclasses
import functools
import itertools
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import Connector
from connectors.parallel import Helpers, Shared, Solo, batched, processes_available
from connectors.pipeline.inbox import keep, update_inbox, waiting_for
from connectors.pipeline.runs import (
    Reading,
    collecting_between_batches,
    commit_batch,
    fail,
    finish,
    payload_content,
    start_run,
    store_payload,
)
from connectors.pipeline.stages import Writers, prepare, write
from connectors.readers import Record, UnreadableInput
from connectors.storable import may_hold_unstorable_text, scrubbed, unstorable_text
from crm.models import InboxRecord, IngestRun, RawPayload

DEFAULT_BATCH_SIZE = 5000


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


def _ingest_part(batch_size: int, session: Session, share: Shared, inputs: list[_Input]) -> set:
    """One process's part of shared inputs (see connectors.parallel.Helpers)."""
    return Pipeline(session, batch_size)._ingest_batches(inputs, share, Reading())


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
        content = payload_content(self.session, payload.id) if content is None else content
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
            start_run(self.session, connector.name, started_by, payload.filename, payload, job_id)
            for connector, payload, _ in stored
        ]
        skip = resumed.total if resumed is not None else 0
        if skip:
            self.on_progress(skip)  # done before: the progress counts all the input
        inputs = [
            _Input(connector, content, payload.filename, payload.id, run.id, skip)
            for (connector, payload, content), run in zip(stored, runs, strict=True)
        ]
        reading = Reading()
        try:
            with collecting_between_batches():
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
                    finish(self.session, run)
                else:
                    fail(self.session, run, f"{type(error).__name__}: {error}")
            raise
        for run in runs:
            if run.id in reading.unreadable:
                fail(self.session, run, reading.unreadable[run.id])
            else:
                finish(self.session, run)
        self.replay_matching(learnt, started_by=f"{started_by} (new identities)")
        return runs

    def _ingest_batches(
        self, inputs: list[_Input], share: Solo | Shared, reading: Reading
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
            content = payload_content(self.session, input_.payload_id)
        writers = Writers(self.session, input_.payload_id)
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
            batch = prepare(connector, chunk, writers, check_text)
            with share.writing():
                write(batch, writers)
                keep(self.session, connector, batch, input_.run_id, input_.payload_id)
                commit_batch(self.session, input_.run_id, batch)
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
        run = start_run(self.session, connector.name, started_by, "inbox replay", None)
        writers = Writers(self.session, payload_id=None)
        with collecting_between_batches():
            for chunk in batched(range(len(inbox)), self.batch_size):
                batch = prepare(connector, [records[i] for i in chunk], writers, check_text=True)
                write(batch, writers)
                for i, outcome in zip(chunk, batch.outcomes, strict=True):
                    update_inbox(inbox[i], outcome)
                commit_batch(self.session, run.id, batch)
                self.on_progress(len(chunk))
        return finish(self.session, run), writers.new_hints()

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
            for connector, rows in waiting_for(self.session, pending).items():
                run, taught = self._replay(registry.get(connector), rows, started_by)
                runs.append(run)
                learnt |= taught
            pending = learnt - followed
        return runs

    def store_payload(self, connector, content: bytes, filename) -> RawPayload:
        """The stored payload of these bytes (see runs.store_payload)."""
        return store_payload(self.session, connector, content, filename)
