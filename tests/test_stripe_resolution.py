"""Stripe records that name their client only through another object.

A dispute names only its charge, a refund its charge (or only its payment
intent), an invoice payment only its invoice, and a charge may name only its
invoice. Each record carries the ids it names as hints, and once placed
teaches them for its client; the pipeline replays whatever waited for them,
transitively. So the same records end in the same threads in any order,
split into any files, with the customer mapped at any point. Built from
stripe/openapi's fixtures (tests/fixtures/vendors).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm.extensions import db
from crm.models import Client, Entity, Event, Identity, InboxRecord
from tests.factories import make_client
from tests.stripe_data import (
    CHARGE,
    CUSTOMER,
    DISPUTE,
    INVOICE,
    REFUND,
    T0,
    event,
    ingest,
    obj,
    write,
)

PAYMENT_INTENT = "pi_3PgafuB7WZ01zgkW0bvJ1L2q"
PAID = T0 + 3600


def _records() -> dict[str, dict]:
    """A client's invoice, paid, disputed and partly refunded, as six
    records; only the first names the customer."""
    invoice = obj("invoice", status="paid", amount_paid=1000, amount_remaining=0)
    invoice["status_transitions"] = {
        "finalized_at": T0,
        "paid_at": PAID,
        "voided_at": None,
        "marked_uncollectible_at": None,
    }
    charge = obj("charge", invoice=INVOICE, payment_intent=PAYMENT_INTENT, amount=1000)
    charge["created"] = PAID
    payment = obj("invoice_payment", invoice=INVOICE, status="paid", currency="usd")
    payment |= {
        "amount_paid": 1000,
        "created": PAID,
        "payment": {"type": "payment_intent", "payment_intent": PAYMENT_INTENT},
        "status_transitions": {"paid_at": PAID, "canceled_at": None},
    }
    return {
        "invoice export": invoice,
        "charge.succeeded (names its invoice)": event("evt_ch", "charge.succeeded", charge, PAID),
        "invoice_payment.paid (names its invoice)": event(
            "evt_ip", "invoice_payment.paid", payment, PAID
        ),
        "dispute (names its charge)": event(
            "evt_dp", "charge.dispute.created", obj("dispute", created=T0 + 7200), T0 + 7200
        ),
        "refund export (names its charge)": obj("refund", created=T0 + 8000),
        "refund export (names its payment intent)": obj(
            "refund", id="re_pi", charge=None, payment_intent=PAYMENT_INTENT, created=T0 + 9000
        ),
    }


NAMES = list(_records())
EXPECTED_EVENTS = {
    f"{INVOICE}:issued",
    f"{INVOICE}:paid",
    f"{CHARGE}:succeeded",
    f"{DISPUTE}:opened",
    f"{REFUND}:succeeded",
    "re_pi:succeeded",
}


def _outcome(session) -> tuple:
    """Every event, thread and taught identity, by client slug; and what
    still waits in the inbox."""
    slug = dict(session.execute(select(Client.id, Client.slug)).all())
    rows = session.execute(
        select(Event.external_id, Event.kind, Event.occurred_at, Event.thread_key, Event.client_id)
    )
    placed = {e: (kind, when, thread, slug[c]) for e, kind, when, thread, c in rows}
    threads = session.execute(
        select(
            Entity.client_id,
            Entity.type,
            Entity.key,
            Entity.status,
            Entity.opened_at,
            Entity.closed_at,
            Entity.event_count,
        )
    )
    states = {(slug[c], *rest) for c, *rest in threads}
    taught = session.execute(select(Identity.system, Identity.external_key, Identity.client_id))
    identities = {(system, key, slug[c]) for system, key, c in taught}
    waiting = session.scalar(select(db.func.count()).where(InboxRecord.status == "unmatched"))
    return placed, states, identities, waiting


def _ingest_in_files(runner, tmp_path, files: list[list[str]], map_before: int) -> None:
    """Each file holds the named records; the customer is mapped before the
    file at `map_before` (after the last, when it is their number)."""
    records = _records()
    for n, names in enumerate(files):
        if n == map_before:
            _map_customer(runner)
        ingest(runner, write(tmp_path, f"{n}.ndjson", [records[name] for name in names]))
    if map_before >= len(files):
        _map_customer(runner)


def _map_customer(runner) -> None:
    result = runner.invoke(args=["identities", "map", "stripe", CUSTOMER, "acme"])
    assert result.exit_code == 0, result.output


def _in_time_order_mapped_first(runner, session, tmp_path) -> tuple:
    """The outcome to compare with: everything placed, nothing waiting."""
    _ingest_in_files(runner, tmp_path, [NAMES], map_before=0)
    outcome = _outcome(session)
    assert (set(outcome[0]), outcome[3]) == (EXPECTED_EVENTS, 0)
    return outcome


def test_in_time_order_with_the_customer_mapped_everything_is_placed(runner, session, tmp_path):
    make_client("acme")
    placed, states, identities, _ = _in_time_order_mapped_first(runner, session, tmp_path)
    assert {client for *_, client in placed.values()} == {"acme"}
    assert ("acme", "invoice", INVOICE, "paid") in {s[:4] for s in states}
    assert ("acme", "dispute", DISPUTE, "warning_needs_response") in {s[:4] for s in states}
    # What the records taught, for whatever names these ids later.
    assert identities >= {
        ("stripe_invoice", INVOICE, "acme"),
        ("stripe_charge", CHARGE, "acme"),
        ("stripe_payment_intent", PAYMENT_INTENT, "acme"),
    }


@pytest.mark.parametrize("map_before", [0, 3, 6])
@pytest.mark.parametrize(
    "order",
    [
        [3, 5, 4, 2, 1, 0],  # the furthest from the customer first
        [0, 1, 2, 3, 4, 5],  # in time order
        [2, 4, 0, 5, 3, 1],
    ],
)
def test_one_record_a_file_in_any_order_mapped_at_any_point(
    runner, session, tmp_path, order, map_before
):
    make_client("acme")
    expected = _in_time_order_mapped_first(runner, session, tmp_path)
    _reset(session)
    make_client("acme")
    _ingest_in_files(runner, tmp_path, [[NAMES[i]] for i in order], map_before)
    assert _outcome(session) == expected


def _reset(session) -> None:
    session.remove()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@st.composite
def _deliveries(draw) -> tuple[list[list[str]], int]:
    """The records in any order, cut into any number of files, and the
    point at which the customer is mapped."""
    order = draw(st.permutations(NAMES))
    cuts = sorted(draw(st.sets(st.integers(1, len(NAMES) - 1))))
    files = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(NAMES)], strict=True)]
    return files, draw(st.integers(0, len(files)))


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(deliveries=_deliveries())
def test_any_split_order_and_mapping_point_ends_as_time_order_mapped_first(
    runner, session, tmp_path, deliveries
):
    files, map_before = deliveries
    _reset(session)
    make_client("acme")
    expected = _in_time_order_mapped_first(runner, session, tmp_path)
    _reset(session)
    make_client("acme")
    _ingest_in_files(runner, tmp_path, files, map_before)
    assert _outcome(session) == expected
