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
goes in at nearly the speed its rows can be written.

Each batch still commits alone with its counts (added in SQL, so processes
never overwrite each other's), so a crash loses at most the batches in
flight, and rerunning the input completes it. Batches may commit out of
order, which the thread states do not mind (crm.threads). A record that
names an identity which another process's batch teaches at the same moment
may wait as unmatched; the replay at the end of the run lets it in.

Processes are forked (Linux), with no database connection open at the time,
and each opens its own. Where processes cannot be forked (a Celery worker's
pool is daemonic), `processes_available` says 1 and the input goes in one
batch after another, as it always did.
"""

import contextlib
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy.orm import Session

# How often the coordinating process reports progress while it waits.
POLL_SECONDS = 0.2
# The first batch of a shared input is this part of a batch; the next ones
# double until they are whole.
FIRST_BATCH_PART = 16


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

    def batches(self, records: Iterable, size: int) -> Iterator[list]:
        return batched(records, size)

    def claim(self, index: int) -> bool:
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

    def batches(self, records: Iterable, size: int) -> Iterator[list]:
        """The batches every process cuts the input into alike. The first
        ones are small and grow: nothing can be written until the first is
        prepared, and each next one is prepared while the one before it is
        written."""
        return batched(records, size, first=max(size // FIRST_BATCH_PART, 1))

    def claim(self, index: int) -> bool:
        """Whether this process takes batch `index`. Every process reads the
        batches in order, so when one reaches `index`, every batch before it
        is taken: `index` is free exactly when the next one to take is it."""
        with self._next.get_lock():
            if self._next.value != index:
                return False
            self._next.value += 1
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


def run_in_processes(
    processes: int,
    session: Session,
    work: Callable[[Session, "Solo | Shared"], set],
    on_progress: Callable[[int], None],
) -> set:
    """Run `work(session, shared)` in this process and in `processes - 1`
    forked ones, each on a connection of its own; answer the union of what
    they answer (the identities their batches taught).

    If this process's part raises, the helpers are stopped (what they have
    not committed is rolled back) and the error goes on; if a helper fails,
    ParallelIngestFailed is raised once every process has stopped.
    """
    context = multiprocessing.get_context("fork")
    shared = Shared(context)
    results = context.SimpleQueue()
    # No connection may cross the fork: the session gives its connection
    # back and the pool closes it; each process then opens its own.
    session.commit()
    session.get_bind().dispose()
    helpers = [
        context.Process(target=_helper, args=(session, work, shared, results), daemon=True)
        for _ in range(processes - 1)
    ]
    for helper in helpers:
        helper.start()
    try:
        learnt = set(work(session, _Reporting(shared, on_progress)))
    except BaseException:
        for helper in helpers:
            helper.terminate()
        raise
    finally:
        for helper in helpers:
            while helper.is_alive():
                helper.join(POLL_SECONDS)
                on_progress(shared.unreported())
        on_progress(shared.unreported())
    answers = {}
    while not results.empty():
        pid, status, value = results.get()
        answers[pid] = (status, value)
    failures = []
    for helper in helpers:
        status, value = answers.get(helper.pid, ("failed", None))
        if status == "done":
            learnt |= value
        else:
            failures.append(value or f"a helper process stopped with exit code {helper.exitcode}")
    if failures:
        raise ParallelIngestFailed("; ".join(failures))
    return learnt


class _Reporting:
    """The coordinator's view of Shared: it also reports progress as it goes."""

    def __init__(self, shared: Shared, on_progress: Callable[[int], None]):
        self._shared = shared
        self._on_progress = on_progress

    def batches(self, records: Iterable, size: int) -> Iterator[list]:
        return self._shared.batches(records, size)

    def claim(self, index: int) -> bool:
        return self._shared.claim(index)

    def writing(self):
        return self._shared.writing()

    def wrote(self, records: int) -> None:
        self._shared.wrote(records)
        self._on_progress(self._shared.unreported())


def _helper(session, work, shared: Shared, results) -> None:
    """A forked process's part of the work, on connections of its own (the
    pool it inherited holds none). It leaves with os._exit: nothing the
    parent set up (sessions, test fixtures, atexit hooks) runs twice."""
    code = 0
    try:
        results.put((os.getpid(), "done", set(work(session, shared))))
    except BaseException as error:
        results.put((os.getpid(), "failed", f"{type(error).__name__}: {error}"))
        code = 1
    finally:
        os._exit(code)
