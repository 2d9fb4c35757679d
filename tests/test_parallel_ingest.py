"""One input ingested by several processes ends exactly as by one."""

import gc
import json
import multiprocessing
import os
import random
import signal
import time

import pytest
from sqlalchemy import delete, func, select

from connectors import parallel, registry
from connectors.parallel import ParallelIngestFailed, batched, processes_available
from connectors.pipeline import Pipeline
from connectors.writers import EventWriter
from crm.models import Entity, Event, InboxHint, InboxRecord, IngestRun, RawPayload
from tests.factories import event, make_client
from tests.helpers import entity_states

BATCH = 50


def mixed_input(threads: int = 60, prefix: str = "") -> bytes:
    """Tickets whose events arrive shuffled (so threads span batches, and
    later batches hold earlier events), with a bad line, a bad date, a record
    for an unknown client and a duplicate among them. `prefix` starts every
    id and thread: another input of as many records."""
    records = []
    for n in range(threads):
        thread, id_ = {"account": "AC-1", "thread": f"{prefix}T{n}"}, f"{prefix}{n}"
        records += [
            event(f"{id_}-open", "ticket.opened", n, title=f"Ticket {n}", priority="low", **thread),
            event(f"{id_}-up", "ticket.updated", n + 1, status="pending", assignee="ana", **thread),
            event(f"{id_}-done", "ticket.resolved", n + 2, **thread),
        ]
    random.Random(11).shuffle(records)
    records[40]["occurred_at"] = "yesterday"
    records[90] = event(f"{prefix}lost-1", "ticket.opened", 3, account="NOBODY", thread="X")
    records.append(dict(records[7]))
    lines = [json.dumps(record) for record in records]
    lines.insert(120, "{not json")
    return ("\n".join(lines) + "\n").encode()


def outcome(session) -> tuple:
    """Everything an ingest leaves behind that must not depend on how it ran."""
    events = session.execute(
        select(Event.origin, Event.external_id, Event.client_id, Event.kind).order_by(
            Event.origin, Event.external_id
        )
    ).all()
    inbox = session.execute(
        select(InboxRecord.locator, InboxRecord.status, InboxRecord.reason).order_by(
            InboxRecord.position
        )
    ).all()
    return events, entity_states(session), inbox


def wipe(session) -> None:
    for model in (Entity, Event, InboxHint, InboxRecord, IngestRun, RawPayload):
        session.execute(delete(model))
    session.commit()


def counts(run: IngestRun) -> dict:
    return run.counts()


def test_two_processes_write_what_one_writes(app, session):
    make_client("acme", identities=[("account", "AC-1")])
    content, tickets = mixed_input(), registry.get("tickets")

    alone = Pipeline(session, BATCH).ingest(tickets, content, "t.ndjson", "test")
    expected, expected_counts = outcome(session), counts(alone)
    wipe(session)
    shared = Pipeline(session, BATCH, processes=2).ingest(tickets, content, "t.ndjson", "test")

    assert outcome(session) == expected
    assert counts(shared) == expected_counts
    assert expected_counts["accepted"] == 178 and expected_counts["rejected"] == 2
    assert (expected_counts["unmatched"], expected_counts["duplicate"]) == (1, 1)
    # The damaged tickets stay pending: their resolution was the bad record.
    assert {state.status for state in entity_states(session)} == {"resolved", "pending"}


def test_the_same_input_again_changes_nothing(app, session):
    make_client("acme", identities=[("account", "AC-1")])
    content, tickets = mixed_input(), registry.get("tickets")
    Pipeline(session, BATCH, processes=2).ingest(tickets, content, "t.ndjson", "test")
    first = outcome(session)[:2]
    again = Pipeline(session, BATCH, processes=2).ingest(tickets, content, "t.ndjson", "test")
    assert outcome(session)[:2] == first
    # Every record but the two bad ones; the unmatched one already waits.
    assert (again.accepted, again.duplicate, again.rejected) == (0, 180, 2)


def test_progress_counts_every_record_once(app, session):
    make_client("acme", identities=[("account", "AC-1")])
    content, seen = mixed_input(), []
    Pipeline(session, BATCH, seen.append, processes=2).ingest(
        registry.get("tickets"), content, "t.ndjson", "test"
    )
    assert sum(seen) == content.count(b"\n")


def test_a_helper_that_fails_fails_the_run_and_a_rerun_completes_it(app, session, monkeypatch):
    make_client("acme", identities=[("account", "AC-1")])
    content, tickets = mixed_input(), registry.get("tickets")
    coordinator = multiprocessing.current_process().pid
    real_write = EventWriter.write

    def write_or_crash(self, prepared):
        if multiprocessing.current_process().pid != coordinator:
            raise RuntimeError("helper lost its disk")
        return real_write(self, prepared)

    monkeypatch.setattr(EventWriter, "write", write_or_crash)
    with pytest.raises(ParallelIngestFailed, match="helper lost its disk"):
        Pipeline(session, BATCH, processes=2).ingest(tickets, content, "t.ndjson", "test")
    failed = session.scalars(select(IngestRun)).one()
    assert failed.status == "failed" and "helper lost its disk" in failed.error
    written = session.scalar(select(func.count()).select_from(Event))
    # The helper's batches are not written; the coordinator's may be, or not
    # yet (under load the helper can fail before the coordinator's first turn).
    assert written < 178

    monkeypatch.setattr(EventWriter, "write", real_write)
    rerun = Pipeline(session, BATCH, processes=2).ingest(tickets, content, "t.ndjson", "test")
    assert rerun.accepted == 178 - written
    assert session.scalar(select(func.count()).select_from(Event)) == 178
    assert {state.status for state in entity_states(session)} == {"resolved", "pending"}


def test_one_process_where_forking_is_not_possible(monkeypatch):
    assert processes_available(3) == 3
    assert processes_available(1) == 1
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    assert processes_available(3) == 1


def test_shared_batches_start_small_and_double():
    sizes = [len(chunk) for chunk in batched(range(1000), 160, first=10)]
    assert sizes == [10, 20, 40, 80, 160, 160, 160, 160, 160, 50]
    assert [len(c) for c in batched(range(5), 2)] == [2, 2, 1]
    assert parallel.FIRST_BATCH_PART > 1


def test_two_ingests_of_one_threads_events_at_once_end_as_one(app, session):
    """Two runs that do not share a writer's turn (two workers, say) write
    the same threads at once: each thread ends as if one run had it all."""
    make_client("acme", identities=[("account", "AC-1")])
    records = []
    for n in range(40):
        thread = {"account": "AC-1", "thread": f"T{n}"}
        records += [
            event(f"{n}-open", "ticket.opened", n, title=f"Ticket {n}", **thread),
            event(f"{n}-up", "ticket.updated", n + 1, status="pending", assignee="ana", **thread),
            event(f"{n}-late", "ticket.updated", n + 1.5, priority="high", **thread),
            event(f"{n}-done", "ticket.resolved", n + 2, **thread),
        ]
    halves = [records[0::2], records[1::2]]
    contents = [("\n".join(json.dumps(r) for r in half) + "\n").encode() for half in halves]
    tickets = registry.get("tickets")

    Pipeline(session, 5).ingest(tickets, contents[0] + contents[1], "all.ndjson", "test")
    expected = entity_states(session)
    wipe(session)

    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)

    def ingest(content: bytes, name: str) -> None:
        start.wait()
        Pipeline(session, 5).ingest(tickets, content, name, "test")

    def other_worker() -> None:
        code = 1
        try:
            ingest(contents[1], "b.ndjson")
            code = 0
        finally:
            os._exit(code)

    # As Helpers does: no connection crosses the fork.
    session.commit()
    session.get_bind().dispose()
    helper = context.Process(target=other_worker)
    helper.start()
    ingest(contents[0], "a.ndjson")
    helper.join(60)
    assert helper.exitcode == 0
    assert entity_states(session) == expected


def _stopped(pids: list[int]) -> bool:
    """Whether none of these child processes runs any more (each is reaped)."""
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


def test_a_batch_is_taken_once_across_the_inputs_of_a_task():
    shared = parallel.Shared(multiprocessing.get_context("fork"))
    assert shared.claim(0, 0) and not shared.claim(0, 0)
    assert shared.claim(0, 1)
    # A process done with input 0 takes input 1's first batch; one still
    # reading input 0 finds its batches taken.
    assert shared.claim(1, 0) and not shared.claim(0, 2)
    assert not shared.claim(1, 0) and shared.claim(1, 1)
    # An input nobody took a batch of (it could not be read) is passed over.
    assert shared.claim(3, 0) and not shared.claim(2, 0)
    shared.reset()
    assert shared.claim(0, 0)


@pytest.mark.parametrize("processes", [1, 2])
def test_inputs_ingested_together_end_as_one_after_another(app, session, processes):
    make_client("acme", identities=[("account", "AC-1")])
    tickets = registry.get("tickets")
    inputs = [
        (tickets, mixed_input(), "a.ndjson"),
        (tickets, "caf\xe9\n".encode("latin-1"), "latin1.ndjson"),
        (tickets, mixed_input(prefix="b-"), "b.ndjson"),
    ]
    with Pipeline(session, BATCH) as alone:
        expected = [
            counts(alone.ingest(*inputs[0], "test")),
            counts(alone.ingest(*inputs[2], "test")),
        ]
    expected_outcome = outcome(session)
    wipe(session)

    with Pipeline(session, BATCH, processes=processes) as pipeline:
        first, unreadable, last = pipeline.ingest_all(inputs, "test")
    assert [counts(first), counts(last)] == expected
    assert (first.status, last.status) == ("finished", "finished")
    assert unreadable.status == "failed" and "UTF-8" in unreadable.error
    assert unreadable.payload.filename == "latin1.ndjson"
    assert outcome(session) == expected_outcome


def test_a_failure_among_inputs_together_fails_the_unfinished_and_a_rerun_completes_them(
    app, session, monkeypatch
):
    make_client("acme", identities=[("account", "AC-1")])
    tickets = registry.get("tickets")
    inputs = [
        (tickets, mixed_input(), "a.ndjson"),
        (tickets, mixed_input(prefix="b-"), "b.ndjson"),
    ]
    real_write, written_batches = EventWriter.write, []

    def crash_in_the_second_input(self, prepared):
        if self.payload_id == session.scalar(select(func.max(RawPayload.id))):
            written_batches.append(len(prepared))
            if len(written_batches) == 2:
                raise RuntimeError("disk full")
        return real_write(self, prepared)

    monkeypatch.setattr(EventWriter, "write", crash_in_the_second_input)
    with pytest.raises(RuntimeError, match="disk full"):
        Pipeline(session, BATCH).ingest_all(inputs, "test")
    # The first input was all written before the second failed: its run is done.
    done, failed = session.scalars(select(IngestRun).order_by(IngestRun.id)).all()
    assert (done.status, done.accepted, done.total) == ("finished", 178, 182)
    assert failed.status == "failed" and "disk full" in failed.error
    written = session.scalar(select(func.count()).select_from(Event))
    assert 178 < written < 2 * 178

    monkeypatch.setattr(EventWriter, "write", real_write)
    first, second = Pipeline(session, BATCH, processes=2).ingest_all(inputs, "test")
    assert (first.accepted, first.duplicate) == (0, 180)
    assert second.status == "finished" and second.accepted == 2 * 178 - written
    assert session.scalar(select(func.count()).select_from(Event)) == 2 * 178


def test_a_pipeline_keeps_its_helpers_for_its_next_inputs(app, session):
    make_client("acme", identities=[("account", "AC-1")])
    content, tickets = mixed_input(), registry.get("tickets")
    later = mixed_input(prefix="b-")
    expected = []
    with Pipeline(session, BATCH) as alone:
        for name, data in (("a.ndjson", content), ("b.ndjson", later)):
            expected.append(counts(alone.ingest(tickets, data, name, "test")))
    expected_outcome = outcome(session)
    wipe(session)

    with Pipeline(session, BATCH, processes=2) as pipeline:
        first = counts(pipeline.ingest(tickets, content, "a.ndjson", "test"))
        helpers = pipeline._helpers.pids
        second = counts(pipeline.ingest(tickets, later, "b.ndjson", "test"))
        assert pipeline._helpers.pids == helpers and len(helpers) == 1
    assert [first, second] == expected
    assert outcome(session) == expected_outcome
    assert _stopped(helpers)


def test_helpers_that_died_between_inputs_are_forked_again(app, session):
    make_client("acme", identities=[("account", "AC-1")])
    content, tickets = mixed_input(), registry.get("tickets")
    pipeline = Pipeline(session, BATCH, processes=2)
    pipeline.ingest(tickets, content, "a.ndjson", "test")
    (gone,) = pipeline._helpers.pids
    os.kill(gone, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pipeline._helpers.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    wipe(session)

    run = pipeline.ingest(tickets, content, "a.ndjson", "test")
    assert run.status == "finished" and run.accepted == 178
    assert pipeline._helpers.pids != [gone]
    helpers = pipeline._helpers.pids
    del pipeline
    gc.collect()
    assert _stopped(helpers)
