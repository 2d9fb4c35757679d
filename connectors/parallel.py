"""One big input ingested by several processes at once.

Most of a batch's cost is Python work that needs no lock: reading, checking
and converting its records, finding their clients, building rows and thread
states (Pipeline._prepare). Only writing the batch and committing it
(Pipeline._write_batch) must happen one batch at a time: SQLite has one
writer anyway, and one writer at a time keeps thread states exact on every
engine (crm.entities reads a thread's stored state and writes the next).

So each process reads the whole input, takes the next batch nobody has taken
yet, prepares it while another process writes its own, then waits its turn
to write. On two cores the preparing hides behind the writing, and an input
goes in at nearly the speed its rows can be written. Several inputs given at
once are one stream of batches: a process with nothing left to take of one
input goes on to the next while another writes the last batch of the one
before, instead of waiting for it.

Each batch still commits alone with its counts (added in SQL, so processes
never overwrite each other's), so a crash loses at most the batches in
flight, and rerunning the input completes it. Batches may commit out of
order, which the thread states do not mind (crm.threads). A record that
names an identity which another process's batch teaches at the same moment
may wait as unmatched; the replay at the end of the run lets it in.

The helpers are forked (Linux) at a pipeline's first big input, with no
database connection open at the time, each opens its own, and they stay for
the pipeline's next inputs (`Helpers`). Where processes cannot be forked (a
Celery worker's pool is daemonic), `processes_available` says 1 and the
input goes in one batch after another, as it always did.
"""

import contextlib
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection

from sqlalchemy.orm import Session

# How often the coordinating process reports progress while it waits.
POLL_SECONDS = 0.2
# How long a helper told to stop may take before it is killed.
STOP_SECONDS = 5
# The first batch of a shared input is this part of a batch; the next ones
# double until they are whole.
FIRST_BATCH_PART = 16
# A batch is known to Shared.claim by its input's number and its index in
# the input, as one number: the input's number in the bits above these.
_INPUT_SHIFT = 40


def processes_available(wanted: int) -> int:
    """How many processes one ingest may use here: 1 where forking is not
    possible or not safe (no fork; inside a daemonic worker process)."""
    if wanted <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if multiprocessing.current_process().daemon:
        return 1
    return wanted


def batched(items: Iterable, size: int, first: int | None = None) -> Iterator[list]:
    """Lists of `size` items (itertools.batched, which Python 3.11 lacks);
    given `first`, the first list is that long and each next one twice the
    one before, up to `size`."""
    iterator = iter(items)
    length = min(first or size, size)
    while chunk := list(itertools.islice(iterator, length)):
        yield chunk
        length = min(length * 2, size)


class Solo:
    """One process takes every batch; nothing to wait for."""

    def __init__(self, on_progress: Callable[[int], None]):
        self._on_progress = on_progress

    def batches(self, records: Iterable, size: int, first_input: bool = True) -> Iterator[list]:
        return batched(records, size)

    def claim(self, input_number: int, index: int) -> bool:
        return True

    def writing(self):
        return contextlib.nullcontext()

    def wrote(self, records: int) -> None:
        self._on_progress(records)


class Shared:
    """What the processes of one ingest share: the next batch to take, the
    turn to write, and how many records all of them have written."""

    def __init__(self, context):
        self._next = context.Value("q", 0)
        self._turn = context.Lock()
        self._written = context.Value("q", 0)
        self._reported = 0

    def reset(self) -> None:
        """Ready for the next input: no batch taken, nothing written."""
        self._next.value = 0
        self._written.value = 0
        self._reported = 0

    def batches(self, records: Iterable, size: int, first_input: bool = True) -> Iterator[list]:
        """The batches every process cuts the input into alike. The first
        ones of a task's first input are small and grow: nothing can be
        written until the first is prepared, and each next one is prepared
        while the one before it is written. A later input's first batch is
        prepared while the input before it is still being written."""
        if not first_input:
            return batched(records, size)
        return batched(records, size, first=max(size // FIRST_BATCH_PART, 1))

    def claim(self, input_number: int, index: int) -> bool:
        """Whether this process takes batch `index` of the task's input
        `input_number`. Every process reads the inputs and their batches in
        order, so when one reaches a batch, every batch before it is taken:
        the batch is free exactly when the next one to take is it, or, for
        an input's first batch, when the next one to take belongs to an
        input before it (one whose batches are all taken)."""
        key = (input_number << _INPUT_SHIFT) + index
        with self._next.get_lock():
            if self._next.value != key and (index or self._next.value > key):
                return False
            self._next.value = key + 1
            return True

    def writing(self):
        return self._turn

    def wrote(self, records: int) -> None:
        with self._written.get_lock():
            self._written.value += records

    def unreported(self) -> int:
        """Records written since the coordinator last asked."""
        written = self._written.value
        fresh, self._reported = written - self._reported, written
        return fresh


class ParallelIngestFailed(RuntimeError):
    """A helper process of a parallel ingest failed; its batch is not written."""


class Helpers:
    """The processes that help one pipeline ingest its big inputs.

    They are forked once, at the pipeline's first input that is worth
    sharing, and take part in every such input after it, until `close`.
    Forking for each input cost more than the fork: every page of memory
    either process touched afterwards was copied first (the coordinator's
    too), ~30,000 pages per process for a file of 70,000 records; and the
    fork needed every connection closed, and SQLite copies its WAL back into
    the database when its last connection closes. bench/ingest.py's five
    files took 300,000 page faults with a fork per file, 170,000 with the
    helpers kept, and a tenth less time. A helper that stays keeps its
    memory and its connection warm; what it cannot share is the input
    itself, which came after the fork: it holds its own copy of the bytes.

    `work(session, share, task)` is what every process does with a task, the
    same in all of them; it answers the identities its batches taught.
    """

    def __init__(self, processes: int, session: Session, work: Callable[..., set]):
        context = multiprocessing.get_context("fork")
        self._work = work
        self.shared = Shared(context)
        # No connection may cross the fork: the session gives its connection
        # back and the pool closes it; each process then opens its own.
        session.commit()
        session.get_bind().dispose()
        self._helpers: list[tuple[multiprocessing.Process, Connection]] = []
        for _ in range(processes - 1):
            ours, theirs = context.Pipe()
            helper = context.Process(
                target=_serve, args=(session, work, self.shared, theirs), daemon=True
            )
            helper.start()
            theirs.close()
            self._helpers.append((helper, ours))

    @property
    def pids(self) -> list[int]:
        """The helpers' process ids, for logs and tests."""
        return [helper.pid for helper, _ in self._helpers]

    @property
    def alive(self) -> bool:
        return bool(self._helpers) and all(helper.is_alive() for helper, _ in self._helpers)

    def run(
        self,
        session: Session,
        task,
        on_progress: Callable[[int], None],
        ours: Callable[[object], set] | None = None,
    ) -> set:
        """Do `task` in this process and in every helper; the union of what
        they answer. `ours(share)`: this process's part, when it differs from
        `work(session, share, task)` (it holds what the helpers are left to
        read for themselves, or keeps more of what it finds).

        If this process's part raises (or it is interrupted while it waits),
        the helpers are stopped (what they have not committed is rolled back)
        and the error goes on. If a helper fails or dies, ParallelIngestFailed
        is raised once the others are done. Either way the helpers are gone,
        and the pipeline forks new ones for its next input.
        """
        self.shared.reset()
        try:
            for _, pipe in self._helpers:
                pipe.send(task)
        except OSError as error:
            self.close(now=True)
            raise ParallelIngestFailed(f"a helper process is gone ({error})") from None
        try:
            reporting = _Reporting(self.shared, on_progress)
            learnt = set(ours(reporting) if ours else self._work(session, reporting, task))
            answers = [self._answer(helper, pipe, on_progress) for helper, pipe in self._helpers]
        except BaseException:
            self.close(now=True)
            raise
        failures = []
        for status, value in answers:
            if status == "done":
                learnt |= value
            else:
                failures.append(value)
        on_progress(self.shared.unreported())
        if failures:
            self.close(now=True)
            raise ParallelIngestFailed("; ".join(failures))
        return learnt

    def _answer(self, helper, pipe: Connection, on_progress) -> tuple[str, object]:
        """What the helper made of its part, reporting progress while it works."""
        while not pipe.poll(POLL_SECONDS):
            on_progress(self.shared.unreported())
            if not helper.is_alive():
                break
        try:
            return pipe.recv()
        except (EOFError, OSError):
            helper.join(POLL_SECONDS)
            return "failed", f"a helper process stopped with exit code {helper.exitcode}"

    def close(self, now: bool = False) -> None:
        """Stop the helpers: at once (`now`: their open batches are rolled
        back), or once they have read that there is no more work."""
        stop_processes(self._helpers, now, lambda pipe: pipe.send(None))
        self._helpers = []


def stop_processes(processes: list[tuple], now: bool, tell_done: Callable[[object], None]):
    """Stop (process, channel) pairs: at once (`now`: terminated, what they
    have not committed is rolled back), or by `tell_done(channel)` that there
    is no more work; one that lingers past STOP_SECONDS is killed. Their
    channels are closed."""
    for process, channel in processes:
        if now:
            process.terminate()
        else:
            with contextlib.suppress(OSError, ValueError):
                tell_done(channel)
    for process, channel in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
        channel.close()


class _Reporting:
    """The coordinator's view of Shared: it also reports progress as it goes."""

    def __init__(self, shared: Shared, on_progress: Callable[[int], None]):
        self._shared = shared
        self._on_progress = on_progress

    def batches(self, records: Iterable, size: int, first_input: bool = True) -> Iterator[list]:
        return self._shared.batches(records, size, first_input)

    def claim(self, input_number: int, index: int) -> bool:
        return self._shared.claim(input_number, index)

    def writing(self):
        return self._shared.writing()

    def wrote(self, records: int) -> None:
        self._shared.wrote(records)
        self._on_progress(self._shared.unreported())


def _serve(session, work, shared: Shared, pipe: Connection) -> None:
    """A helper's life: each task it is sent, on connections of its own (the
    pool it inherited holds none), until it is told there is no more work.
    A task that fails ends it: its session may be in any state. It leaves
    with os._exit, so nothing the parent set up (sessions, test fixtures,
    atexit hooks) runs twice. Garbage collection stays off, as it was when
    the helper was forked during an ingest: a batch leaves only some ten
    objects in cycles (see connectors.pipeline)."""
    code = 0
    try:
        while (task := pipe.recv()) is not None:
            try:
                answer = ("done", set(work(session, shared, task)))
            except BaseException as error:
                pipe.send(("failed", f"{type(error).__name__}: {error}"))
                code = 1
                break
            pipe.send(answer)
    except (EOFError, OSError):
        pass  # the coordinator is gone
    finally:
        os._exit(code)
