"""Thread state is a function of the set of events, not their order."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm.threads import ThreadFact, fold, fold_state

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


def fact(kind, hours, external_id=None, **fields):
    return ThreadFact(T0 + timedelta(hours=hours), kind, external_id or f"{kind}-{hours}", **fields)


def test_late_update_stamped_before_resolution_never_reopens():
    opened = fact("ticket.opened", 0, title="Printer offline", priority="high")
    resolved = fact("ticket.resolved", 5)
    late_update = fact("ticket.updated", 3, status="pending", assignee="Bob")
    for order in itertools.permutations([opened, resolved, late_update]):
        state = fold("ticket", order)
        assert state["status"] == "resolved"
        assert state["closed_at"] == T0 + timedelta(hours=5)
        assert state["assignee"] == "Bob"
        assert state["title"] == "Printer offline"


def test_an_update_after_resolution_reopens():
    state = fold(
        "ticket",
        [fact("ticket.opened", 0), fact("ticket.resolved", 1), fact("ticket.updated", 2)],
    )
    assert state["status"] == "open"
    assert state["closed_at"] is None


def test_same_timestamp_resolution_beats_update():
    state = fold("ticket", [fact("ticket.updated", 1), fact("ticket.resolved", 1)])
    assert state["status"] == "resolved"


def test_invoice_keeps_amount_and_due_date_and_closes_when_paid():
    due = T0 + timedelta(days=30)
    issued = fact("invoice.issued", 0, amount=Decimal("120.50"), currency="EUR", due_at=due)
    failed = fact("payment.failed", 24)
    paid = fact("payment.received", 48)
    assert fold("invoice", [issued, failed])["status"] == "failed"
    state = fold("invoice", [paid, failed, issued])
    assert (state["status"], state["amount"], state["due_at"]) == ("paid", Decimal("120.50"), due)
    assert state["opened_at"] == T0
    assert state["event_count"] == 3


def test_dispute_status_comes_from_the_record():
    opened = fact("dispute.opened", 0, status="needs_response")
    assert fold("dispute", [opened])["status"] == "needs_response"
    closed = fact("dispute.closed", 10, status="lost")
    state = fold("dispute", [closed, opened])
    assert state["status"] == "lost"
    assert state["closed_at"] is not None


def test_a_thread_is_closed_when_it_became_closed():
    """Solved on day 1, closed (Zendesk's automatic later step) on day 5, a
    snapshot of it seen on day 9: the ticket was closed on day 1."""
    facts = [
        fact("ticket.opened", 0),
        fact("ticket.resolved", 24),
        fact("ticket.resolved", 120),
        fact("ticket.resolved", 216),
    ]
    assert fold("ticket", facts)["closed_at"] == T0 + timedelta(hours=24)
    reopened = [*facts, fact("ticket.updated", 300), fact("ticket.resolved", 310)]
    assert fold("ticket", reopened)["closed_at"] == T0 + timedelta(hours=310)


def test_a_state_continued_by_later_events_is_their_fold():
    """`then`, which ingest uses when new events all come after the stored
    ones, gives what folding every event gives, for every split of every
    sequence of open and closed steps."""
    kinds = ("ticket.updated", "ticket.resolved")
    for steps in itertools.product(kinds, repeat=4):
        facts = [fact("ticket.opened", 0)]
        facts += [fact(kind, hours + 1) for hours, kind in enumerate(steps)]
        whole = fold_state("ticket", facts)
        for cut in range(1, len(facts)):
            continued = fold_state("ticket", facts[:cut]).then(fold_state("ticket", facts[cut:]))
            assert continued.as_entity() == whole.as_entity(), (steps, cut)
