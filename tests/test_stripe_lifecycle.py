"""A Stripe object's history, from whichever record of it comes first.

Every step of an object's life is one event keyed "<object>:<step>" at the
object's own time for it, whether a webhook tells of the step, an export
shows the object past it, or a later event's snapshot implies it. So a
thread opens and closes when its object did, and the same history gives
the same threads however it is split, ordered or repeated. Built from
stripe/openapi's fixtures (tests/fixtures/vendors) with realistic times.
"""

import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.models import Entity, Event, InboxRecord
from tests.factories import make_client
from tests.stripe_data import (
    CHARGE,
    CUSTOMER,
    DISPUTE,
    INVOICE,
    SUBSCRIPTION,
    T0,
    at,
    entities,
    event,
    event_row,
    events,
    ingest,
    obj,
    opened_closed,
    write,
)

FINALIZED, PAID = T0, T0 + 3600


def invoice(status: str, **changes) -> dict:
    """The fixture invoice as it stands once `status`, with its own times."""
    record = obj("invoice", status=status, created=T0 - 600, **changes)
    record["status_transitions"] = {
        "finalized_at": FINALIZED,
        "paid_at": PAID if status == "paid" else None,
        "voided_at": None,
        "marked_uncollectible_at": None,
    }
    if status == "paid":
        record |= {"amount_paid": 1000, "amount_remaining": 0}
    return record


def _clear_timeline(session) -> None:
    for table in (InboxRecord, Event, Entity):
        session.execute(table.__table__.delete())
    session.commit()


def test_a_payment_first_seen_opens_its_invoice_when_it_was_finalized(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    paid = event("evt_paid", "invoice.paid", invoice("paid"), PAID + 5)
    assert ingest(runner, write(tmp_path, "paid.json", paid))["accepted"] == 1

    issued = event_row(session, f"{INVOICE}:issued")
    assert (issued.kind, issued.occurred_at) == ("invoice.issued", at(FINALIZED))
    assert issued.attributes["implied_by"] == "evt_paid"
    payment = event_row(session, f"{INVOICE}:paid")
    assert (payment.occurred_at, payment.attributes["stripe_event"]) == (at(PAID), "evt_paid")
    assert opened_closed(session)[("invoice", INVOICE)] == ("paid", at(FINALIZED), at(PAID))

    # The finalization's own webhook, late: the step is on the timeline already.
    finalized = event("evt_fin", "invoice.finalized", invoice("open"), FINALIZED)
    late = ingest(runner, write(tmp_path, "finalized.json", finalized))
    assert (late["accepted"], late["duplicate"]) == (0, 1)
    assert opened_closed(session)[("invoice", INVOICE)] == ("paid", at(FINALIZED), at(PAID))


def test_a_closed_dispute_first_seen_was_opened_when_it_was_created(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    won = obj("dispute", status="won", customer=CUSTOMER, created=T0)
    ingest(
        runner, write(tmp_path, "won.json", event("evt_won", "charge.dispute.closed", won, T0 + 9))
    )
    assert opened_closed(session)[("dispute", DISPUTE)] == ("won", at(T0), at(T0 + 9))
    assert event_row(session, f"{DISPUTE}:opened").attributes["implied_by"] == "evt_won"


def test_a_cancelled_subscription_first_seen_started_when_it_did(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    ended = obj("subscription", status="canceled", start_date=T0, canceled_at=T0 + 50)
    ended["ended_at"] = T0 + 60
    deleted = event("evt_del", "customer.subscription.deleted", ended, T0 + 61)
    ingest(runner, write(tmp_path, "deleted.json", deleted))
    assert {e: (row.kind, row.occurred_at) for e, row in _rows(session).items()} == {
        f"{SUBSCRIPTION}:created": ("subscription.created", at(T0)),
        f"{SUBSCRIPTION}:cancelled": ("subscription.cancelled", at(T0 + 60)),
    }


def test_a_refund_first_seen_shows_the_payment_it_refunds(runner, session, tmp_path):
    """charge.refunded of a charge never seen succeed: the charge succeeded
    when it was created, and was refunded when its latest refund was."""
    make_client("acme", identities=[("stripe", CUSTOMER)])
    charge = obj("charge", customer=CUSTOMER, invoice=INVOICE, created=T0, amount_refunded=100)
    charge["refunds"] = {"object": "list", "data": [obj("refund", created=T0 + 70)]}
    refunded = event("evt_ref", "charge.refunded", charge, T0 + 71)
    ingest(runner, write(tmp_path, "refunded.json", refunded))
    assert {e: (row.kind, row.occurred_at) for e, row in _rows(session).items()} == {
        f"{CHARGE}:succeeded": ("payment.received", at(T0)),
        f"{CHARGE}:refunded:100": ("refund.issued", at(T0 + 70)),
    }


def test_each_failed_attempt_and_each_partial_refund_is_a_fact_of_its_own(
    runner, session, tmp_path
):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    charge = obj("charge", customer=CUSTOMER, invoice=INVOICE, amount=1000, created=T0)
    records = [
        event("evt_f1", "invoice.payment_failed", invoice("open", attempt_count=1), T0 + 10),
        event("evt_f2", "invoice.payment_failed", invoice("open", attempt_count=2), T0 + 20),
        event("evt_r1", "charge.refunded", charge | {"amount_refunded": 300}, T0 + 30),
        event("evt_r2", "charge.refunded", charge | {"amount_refunded": 700}, T0 + 40),
    ]
    ingest(runner, write(tmp_path, "facts.json", records))
    assert events(session) == {
        f"{INVOICE}:issued": ("invoice.issued", Decimal("10.00"), "USD", INVOICE),
        "evt_f1": ("payment.failed", Decimal("10.00"), "USD", INVOICE),
        "evt_f2": ("payment.failed", Decimal("10.00"), "USD", INVOICE),
        f"{CHARGE}:succeeded": ("payment.received", Decimal("10.00"), "USD", INVOICE),
        f"{CHARGE}:refunded:300": ("refund.issued", Decimal("3.00"), "USD", INVOICE),
        f"{CHARGE}:refunded:700": ("refund.issued", Decimal("7.00"), "USD", INVOICE),
    }
    # An export of the charge as it stands shows nothing new.
    export = ingest(runner, write(tmp_path, "export.json", charge | {"amount_refunded": 700}))
    assert (export["accepted"], export["duplicate"]) == (0, 1)


def test_an_invoice_payment_and_the_invoice_paid_are_one_payment(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    payment = obj("invoice_payment", invoice=INVOICE, status="paid", currency="usd")
    payment |= {"amount_paid": 1000, "created": PAID}
    payment["status_transitions"] = {"paid_at": PAID, "canceled_at": None}
    records = [
        event("evt_ip", "invoice_payment.paid", payment, PAID),
        event("evt_paid", "invoice.paid", invoice("paid"), PAID + 1),
    ]
    summary = ingest(runner, write(tmp_path, "paid.json", records))
    # The payment names only its invoice: it waits for the invoice to be
    # placed, and then is the payment already on the timeline.
    assert (summary["accepted"], summary["unmatched"]) == (1, 1)
    assert session.scalars(select(InboxRecord.reason)).one() == (
        f"no client found for stripe_invoice {INVOICE} (replayed: duplicate)"
    )
    assert set(events(session)) == {f"{INVOICE}:issued", f"{INVOICE}:paid"}


def _history() -> list[dict]:
    """One invoice's life as webhooks tell it and as an export shows it."""
    return [
        event("evt_fin", "invoice.finalized", invoice("open"), FINALIZED),
        event("evt_fail", "invoice.payment_failed", invoice("open", attempt_count=1), T0 + 60),
        event("evt_paid", "invoice.paid", invoice("paid"), PAID),
        invoice("paid"),  # GET /v1/invoices, some day later
        event("evt_dp", "charge.dispute.closed", obj("dispute", status="lost", created=T0), PAID),
        obj("charge", customer=CUSTOMER, invoice=INVOICE, amount=1000, created=PAID),
    ]


def _rows(session) -> dict[str, Event]:
    return {row.external_id: row for row in session.scalars(select(Event))}


def _state(session) -> tuple:
    rows = {
        e: (r.kind, r.occurred_at, r.thread_key, r.client_id) for e, r in _rows(session).items()
    }
    return rows, entities(session), opened_closed(session)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_order_and_split_of_the_same_history_gives_the_same_threads(
    runner, session, tmp_path, order
):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    history = _history()
    ingest(runner, write(tmp_path, "all.json", history))
    expected = _state(session)
    assert expected[2][("invoice", INVOICE)] == ("paid", at(FINALIZED), at(PAID))
    assert expected[2][("dispute", DISPUTE)] == ("lost", at(T0), at(PAID))

    # The first four records in this order, each its own delivery, then the
    # rest as one file, then everything again: the same threads each time.
    _clear_timeline(session)
    for n, i in enumerate(order):
        ingest(runner, write(tmp_path, f"{n}.json", history[i]))
    ingest(runner, write(tmp_path, "rest.json", history[4:][::-1]))
    assert _state(session) == expected
    again = ingest(runner, write(tmp_path, "again.json", history))
    assert again["accepted"] == 0
    assert _state(session) == expected


def test_an_exported_won_dispute_closed_when_the_money_came_back(runner, session, tmp_path):
    """A dispute says no closing time; a won one lists the balance
    transaction that returned the money, which stands in for it."""
    make_client("acme", identities=[("stripe", CUSTOMER)])
    won = obj("dispute", status="won", customer=CUSTOMER, created=T0)
    won["balance_transactions"] = [
        {"id": "txn_1", "object": "balance_transaction", "amount": -1000, "created": T0 + 1},
        {"id": "txn_2", "object": "balance_transaction", "amount": 1000, "created": T0 + 900},
    ]
    lost = won | {
        "id": "dp_lost",
        "status": "lost",
        "balance_transactions": won["balance_transactions"][:1],
    }
    ingest(runner, write(tmp_path, "disputes.json", [won, lost]))
    states = opened_closed(session)
    assert states[("dispute", DISPUTE)] == ("won", at(T0), at(T0 + 900))
    closed = event_row(session, f"{DISPUTE}:closed")
    assert closed.attributes["inferred"] == {"closed_at": "balance_transactions"}
    # Lost, the money never came back: nothing says when, but it was closed.
    assert states[("dispute", "dp_lost")] == ("lost", at(T0), at(T0))
