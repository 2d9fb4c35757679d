"""Keep each thread's Entity row equal to the fold of its stored events.

Ingest plans a batch's threads from the facts of its new events, grouped by
thread (`plan_threads`, before the batch's transaction), stores the events,
then brings their threads up to date (`refresh_threads`). The new state of
each thread is found the cheapest way that is exact:

- a thread with no Entity row is new: it has no stored events but these, so
  the fold of the new facts is its state. Every new thread's row is written
  in one INSERT that skips the rows already there, and tells which those are;
- a thread whose new events all come after its last stored one continues
  from its stored state (`ThreadState.then`);
- any other thread is folded again from all of its stored events, which now
  include the new ones.

This rests on one invariant: every stored event of a thread with a state has
its thread's row, written in the same transaction. Events are only ever
written together with a refresh of their threads (here, or
crm.timeline.touches). Flushes; the caller commits.
"""

import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crm.database import insert_new_stored, rows_with_keys, storage_columns, upsert
from crm.models import Entity, Event
from crm.threads import (
    STATE_COLUMNS,
    ThreadFact,
    ThreadState,
    fact_order,
    fold_ordered,
    fold_state,
)

# (client id, thread type, thread key): how a thread is named everywhere.
Thread = tuple[int, str, str]

THREAD_KEY = ("client_id", "type", "key")
ENTITY_COLUMNS = ("client_id", "key", *STATE_COLUMNS)
_state_values = operator.attrgetter(*STATE_COLUMNS[:4], *STATE_COLUMNS[5:])
# The columns of an event row that say what it means for its thread.
EVENT_THREAD = ("client_id", "thread_type", "thread_key")
EVENT_FACT = ("occurred_at", "kind", "external_id", "title", "amount", "currency", "attributes")


@dataclass
class ThreadPlan:
    """What a batch's new events make of their threads, worked out before the
    batch's transaction: each thread's new facts in order, the state those
    facts alone give it, and that state as an Entity row (stored values,
    one list per column, threads in key order)."""

    facts: dict[Thread, list[ThreadFact]]
    states: dict[Thread, ThreadState]
    rows: dict[str, Sequence]

    def __len__(self) -> int:
        return len(self.states)


def plan_threads(dialect, new_facts: Mapping[Thread, list[ThreadFact]]) -> ThreadPlan:
    """The plan for these threads' new facts, in any order. Pure."""
    # Threads in key order: two writers that add rows for the same new
    # threads then take their places in one order, never waiting in a circle.
    facts = {thread: _in_order(new_facts[thread]) for thread in sorted(new_facts)}
    states = {thread: fold_ordered(thread[1], ordered) for thread, ordered in facts.items()}
    return ThreadPlan(
        facts, states, storage_columns(dialect, Entity.__table__, _columns(states.items()))
    )


def _in_order(facts: list[ThreadFact]) -> list[ThreadFact]:
    """The facts in fact_order. Ingest hands a batch's facts over in time
    order, so most threads' are in order already, which is cheaper to see
    than to sort (equal times need the whole order)."""
    times = [fact.occurred_at for fact in facts]
    if all(map(operator.lt, times, times[1:])):
        return facts
    return sorted(facts, key=fact_order)


def refresh_threads(session: Session, plan: ThreadPlan) -> None:
    """Bring every thread of `plan` up to date with its new events, which are
    stored already."""
    if not plan:
        return
    created = set(insert_new_stored(session, Entity.__table__, plan.rows, THREAD_KEY))
    if len(created) == len(plan):
        return
    known = [thread for i, thread in enumerate(plan.states) if i not in created]
    stored = _stored_states(session, known)
    updated: dict[Thread, ThreadState] = {}
    history: list[Thread] = []
    for thread in known:
        before = stored.get(thread)
        if before is not None and plan.facts[thread][0].occurred_at > before.last_event_at:
            updated[thread] = before.then(plan.states[thread])
        else:
            history.append(thread)
    updated.update(_folded_from_history(session, history))
    upsert(
        session,
        Entity.__table__,
        ENTITY_COLUMNS,
        list(zip(*_columns(updated.items()).values(), strict=True)),
        THREAD_KEY,
    )


def _columns(states: Iterable[tuple[Thread, ThreadState]]) -> dict[str, list]:
    """Entity rows for these states, column by column (ENTITY_COLUMNS)."""
    rows = [
        (client_id, key, *_with_status(_state_values(state), state))
        for (client_id, _, key), state in states
    ]
    if not rows:
        return {name: [] for name in ENTITY_COLUMNS}
    return dict(zip(ENTITY_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))


def _with_status(values: tuple, state: ThreadState) -> tuple:
    """The state values with the row's status put in its place (see as_entity)."""
    return (*values[:4], state.status or "open", *values[4:])


def _stored_states(session: Session, threads: list[Thread]) -> dict[Thread, ThreadState]:
    """The stored states of these threads, locked until the batch commits: a
    state is rewritten from the one read, and another writer's must not slip
    in between (crm.database.rows_with_keys)."""
    rows = rows_with_keys(
        session,
        Entity.__table__,
        ("client_id", "key", *STATE_COLUMNS),
        THREAD_KEY,
        threads,
        lock=True,
    )
    return {(client_id, values[0], key): ThreadState(*values) for client_id, key, *values in rows}


def _folded_from_history(session: Session, threads: list[Thread]) -> dict[Thread, ThreadState]:
    """The states of these threads folded from all of their stored events."""
    if not threads:
        return {}
    facts: dict[Thread, list[ThreadFact]] = defaultdict(list)
    for client_id, thread_type, key, *values in rows_with_keys(
        session, Event.__table__, EVENT_THREAD + EVENT_FACT, EVENT_THREAD, threads
    ):
        facts[(client_id, thread_type, key)].append(ThreadFact.from_stored(*values))
    return {thread: fold_state(thread[1], facts[thread]) for thread in threads}
