"""How a sync ingests its pages: one after another in its own process
(`InTurn`), or read by several processes and written in their order
(`OrderedPages`); `page_line` picks.

A vendor's pages come one after another (each page's cursor names the
next), and a page's cursor is saved in the commit that stores its records,
after every page before it: so a sync killed anywhere resumes from the last
committed page. One process doing it all (`InTurn`) leaves the second
core idle while the file ingest of the same records uses both
(connectors.parallel), and most of a page's time is reading it: parsing,
checking, converting, resolving its clients, none of which needs a lock.

So here the sync's own process fetches the pages and deals them out in
turn to worker processes. Each reads its page while another writes, then
waits for its page's turn to write it, move the stream's cursor and commit.
Turns go in page order, so the committed pages are always the first ones,
whatever dies when. A page that fails stops the pages after it (they are
not written: their cursors would skip it); those before it are written.
The sync fails with the page's error, as it would have alone.

A record naming an identity that an earlier page, not yet committed when
it was read, teaches may wait as unmatched: the sync's replay of the new
identities at its end lets it in (as connectors.parallel does).

The workers are forked (no database connection may cross the fork: each
opens its own), leave with os._exit, and leave by themselves if the sync's
process dies.
"""

import contextlib
import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import Connector
from connectors.connections.models import Connection, StreamState
from connectors.connections.sources.base import Page
from connectors.parallel import ParallelIngestFailed, processes_available, stop_processes
from connectors.pipeline.pages import read_page, write_page
from connectors.pipeline.runs import collecting_between_batches
from crm.models.types import utcnow

# How long the sync's process waits for a result before it looks whether a
# worker died, and a worker for a page before it looks whether the sync did.
POLL_SECONDS = 0.5
# Pages dealt out and not yet written, per worker: one being read, one
# waiting (memory stays bounded, and no worker waits for the fetching).
PAGES_AHEAD = 2
_NEVER = 2**62


@dataclass(frozen=True)
class PageTask:
    number: int
    stream_state_id: int
    state: dict
    body: bytes
    filename: str
    count: int


def page_line(session, connector, run_id, connection, processes: int, on_progress):
    """Workers where `processes` > 1 and this process may fork (not inside a
    daemonic worker: see connectors.parallel.processes_available)."""
    if processes_available(processes) > 1:
        return OrderedPages(session, connector, run_id, connection, processes, on_progress)
    return InTurn(session, connector, run_id, connection, on_progress)


class InTurn:
    """Each page fetched, then ingested, in this process."""

    def __init__(self, session, connector, run_id, connection, on_progress):
        self._session, self._connector, self._run_id = session, connector, run_id
        self._connection, self._on_progress = connection, on_progress
        self._learnt: set[tuple[str, str]] = set()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        return None

    def put(self, saved: StreamState, page: Page) -> None:
        session, connection_id = self._session, self._connection.id
        with collecting_between_batches():
            read = read_page(session, self._connector, page.body, page.filename)
            self._learnt |= write_page(
                session,
                self._connector,
                self._run_id,
                read,
                lambda: move_cursor(session, saved.id, page.state, connection_id),
            )
        self._on_progress(page.count)

    def finish(self) -> set[tuple[str, str]]:
        return self._learnt


def move_cursor(session: Session, stream_state_id: int, state: dict, connection_id: int):
    """In a page's transaction: its stream's cursor moves to the state after
    it, and the sync's lease on the connection is renewed (crm.heartbeat)."""
    session.execute(
        update(StreamState).where(StreamState.id == stream_state_id).values(state=state)
    )
    session.execute(
        update(Connection).where(Connection.id == connection_id).values(sync_lease_at=utcnow())
    )


class Turns:
    """Whose turn it is to write (pages write in their order), and the first
    page that failed: no page from it on writes."""

    def __init__(self, context):
        self._changed = context.Condition()
        self._next = context.RawValue("q", 0)
        self._stop = context.RawValue("q", _NEVER)

    def wait(self, number: int, parent: int) -> bool:
        """Wait for page `number`'s turn: True when it comes, False if a page
        before it (or it) failed, or the sync's process is gone."""
        with self._changed:
            while not self._changed.wait_for(
                lambda: self._next.value == number or self._stop.value <= number, POLL_SECONDS
            ):
                if os.getppid() != parent:
                    return False
            return self._stop.value > number

    def stopped(self, number: int) -> bool:
        return self._stop.value <= number

    def passed(self, number: int) -> None:
        with self._changed:
            self._next.value = number + 1
            self._changed.notify_all()

    def stop(self, number: int) -> None:
        with self._changed:
            self._stop.value = min(self._stop.value, number)
            self._changed.notify_all()


class OrderedPages:
    """The worker processes of one sync, as a context: `put` each page as it
    is fetched, then `finish` for the identities they taught. Leaving the
    context with an error stops the workers: after the pages already dealt
    out are written if the error is an ordinary one (a source that failed
    mid-stream: those pages are good), at once for anything else."""

    def __init__(
        self,
        session: Session,
        connector: Connector,
        run_id: int,
        connection: Connection,
        processes: int,
        on_progress: Callable[[int], None],
    ):
        context = multiprocessing.get_context("fork")
        self._on_progress = on_progress
        self._turns = Turns(context)
        self._results = context.Queue()
        self._pending: dict[int, multiprocessing.Process] = {}
        self._learnt: set[tuple[str, str]] = set()
        self._failure: tuple[int, BaseException] | None = None
        self._number = 0
        # Read before the commit: an expired attribute read after it would
        # open a connection again.
        work = (session, connector.name, run_id, connection.id, self._turns, self._results)
        # No connection may cross the fork: the session gives its connection
        # back and the pool closes it; each process then opens its own.
        session.commit()
        session.get_bind().dispose()
        self._workers = []
        for _ in range(processes):
            tasks = context.Queue()
            worker = context.Process(target=_serve, args=(*work, tasks, os.getpid()), daemon=True)
            worker.start()
            self._workers.append((worker, tasks))

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            return
        if isinstance(error, Exception):
            with contextlib.suppress(Exception):
                self._drain()
        self._close(now=True)

    def put(self, saved: StreamState, page: Page) -> None:
        """Deal the page out (saved: its stream's committed state row); raises
        the error of a page before it that failed."""
        self._collect(wait=False)
        while len(self._pending) >= PAGES_AHEAD * len(self._workers) and not self._failure:
            self._collect(wait=True)
        self._raise_failure()
        worker, tasks = self._workers[self._number % len(self._workers)]
        tasks.put(
            PageTask(self._number, saved.id, page.state, page.body, page.filename, page.count)
        )
        self._pending[self._number] = worker
        self._number += 1

    def finish(self) -> set[tuple[str, str]]:
        """Wait for every page to be written; the identities they taught.
        Raises the first failed page's error."""
        self._drain()
        self._raise_failure()
        self._close()
        return self._learnt

    def _drain(self) -> None:
        while self._pending:
            self._collect(wait=True)

    def _raise_failure(self) -> None:
        if self._failure:
            self._drain()  # the pages before the failed one are written
            self._close(now=True)
            raise self._failure[1]

    def _collect(self, wait: bool) -> None:
        """Take what the workers answered: progress, identities, failures."""
        while True:
            try:
                number, status, value = self._results.get(timeout=POLL_SECONDS if wait else 0)
            except queue.Empty:
                self._notice_deaths()
                return
            self._pending.pop(number, None)
            if status == "done":
                hints, count = value
                self._learnt |= hints
                self._on_progress(count)
            elif status == "failed":
                self._failed(number, value)
            wait = False  # one answer was worth the wait; take the others there are

    def _notice_deaths(self) -> None:
        for number, worker in list(self._pending.items()):
            if not worker.is_alive():
                del self._pending[number]
                self._failed(
                    number,
                    ParallelIngestFailed(
                        f"the process writing page {number + 1} stopped"
                        f" (exit code {worker.exitcode})"
                    ),
                )

    def _failed(self, number: int, error: BaseException) -> None:
        self._turns.stop(number)
        if self._failure is None or number < self._failure[0]:
            self._failure = (number, error)

    def _close(self, now: bool = False) -> None:
        stop_processes(self._workers, now, lambda tasks: tasks.put(None))
        self._workers = []
        self._pending.clear()


def _serve(session, connector_name, run_id, connection_id, turns, results, tasks, parent):
    """A worker's life: each page it is dealt, until told there are no more
    or the sync's process is gone. It leaves with os._exit, so nothing the
    parent set up (sessions, test fixtures, atexit hooks) runs twice."""
    connector = registry.get(connector_name)
    try:
        while (task := _next(tasks, parent)) is not None:
            results.put(_ingest(session, connector, run_id, connection_id, turns, task, parent))
        results.close()
        results.join_thread()
    finally:
        os._exit(0)


def _next(tasks, parent: int) -> PageTask | None:
    while True:
        try:
            return tasks.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:
                return None


def _ingest(session, connector, run_id, connection_id, turns: Turns, task: PageTask, parent):
    """(page number, "done", (identities taught, records)), or "failed" with
    the error, or "skipped": a page before it failed."""
    if turns.stopped(task.number):
        return task.number, "skipped", None
    try:
        with collecting_between_batches():
            page = read_page(session, connector, task.body, task.filename)
            if not turns.wait(task.number, parent):
                session.rollback()
                return task.number, "skipped", None
            hints = write_page(
                session,
                connector,
                run_id,
                page,
                lambda: move_cursor(session, task.stream_state_id, task.state, connection_id),
            )
        turns.passed(task.number)
        return task.number, "done", (hints, task.count)
    except BaseException as error:
        session.rollback()
        turns.stop(task.number)
        return task.number, "failed", _portable(error)


def _portable(error: BaseException) -> BaseException:
    """The error itself if it survives pickling (to be raised by the sync as
    it would have been alone), else its description."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return ParallelIngestFailed(f"{type(error).__name__}: {error}")
    return error
