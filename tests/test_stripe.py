"""The stripe connector, on Stripe's own OpenAPI fixtures and events built from them.

Older API shapes: tests/test_stripe_versions.py; an object's history from a
late record of it: tests/test_stripe_lifecycle.py; records that name only a
charge, an invoice or a payment: tests/test_stripe_resolution.py.
"""

import json
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors import stripe_fields
from connectors.signatures import STRIPE_HEADER, sign_stripe
from crm.models import Entity, Event, Identity
from tests.factories import make_client
from tests.stripe_data import (
    CHARGE,
    CUSTOMER,
    DISPUTE,
    INVOICE,
    REFUND,
    SUBSCRIPTION,
    T0,
    VENDORS,
    at,
    entities,
    event,
    event_row,
    events,
    fixture,
    inbox,
    ingest,
    obj,
    write,
)


def history() -> list[dict]:
    """A client's billing month as Stripe would send it, built from the
    fixtures with the times an invoice, its charges, a dispute and a
    subscription would have (the fixtures' own are generator filler)."""
    transitions = {"finalized_at": T0, "paid_at": None, "voided_at": None}
    issued = obj("invoice", status="open", created=T0 - 100)
    issued["status_transitions"] = dict(transitions)
    paid = issued | {"status": "paid", "amount_paid": 1000, "amount_remaining": 0}
    paid["status_transitions"] = transitions | {"paid_at": T0 + 20}
    card = obj(
        "charge",
        customer=CUSTOMER,
        invoice=INVOICE,
        amount=1000,
        receipt_email=None,
        created=T0 + 20,
    )
    refunded = card | {"amount_refunded": 400, "refunded": False}
    failed = card | {
        "id": "ch_failed",
        "status": "failed",
        "failure_code": "card_declined",
        "failure_message": "Your card was declined.",
        "created": T0 + 10,
    }
    opened = obj("dispute", created=T0 + 30)
    won = opened | {"status": "won"}
    sub = obj("subscription", start_date=T0, ended_at=None, canceled_at=None)
    return [
        event("evt_fin", "invoice.finalized", issued, T0),
        event("evt_fail", "invoice.payment_failed", issued, T0 + 10),
        event("evt_chfail", "charge.failed", failed, T0 + 10),
        event("evt_ch", "charge.succeeded", card, T0 + 20),
        event("evt_paid", "invoice.paid", paid, T0 + 20),
        event("evt_succ", "invoice.payment_succeeded", paid, T0 + 20),
        event("evt_dp", "charge.dispute.created", opened, T0 + 30),
        event("evt_dpwon", "charge.dispute.closed", won, T0 + 40),
        event("evt_ref", "charge.refunded", refunded, T0 + 50),
        event("evt_sub1", "customer.subscription.created", sub, T0),
        event(
            "evt_sub2",
            "customer.subscription.updated",
            sub,
            T0 + 5,
            previous_attributes={"cancel_at_period_end": False},
        ),
        event(
            "evt_sub3",
            "customer.subscription.deleted",
            sub | {"status": "canceled", "canceled_at": T0 + 55, "ended_at": T0 + 60},
            T0 + 60,
        ),
    ]


# --- the vendor's own files --------------------------------------------------


def test_the_fixture_files_ingest_as_they_are(runner, session):
    acme = make_client("acme", identities=[("stripe", CUSTOMER)])
    outcomes = {
        name: ingest(runner, VENDORS / f"stripe_openapi_fixture_{name}.json")
        for name in ("event", "invoice", "subscription", "dispute", "refund", "charge")
    }
    assert {name: o["rejected"] for name, o in outcomes.items()} == dict.fromkeys(outcomes, 0)
    assert outcomes["event"]["skipped"] == 1 and outcomes["invoice"]["skipped"] == 1
    assert outcomes["subscription"]["accepted"] == 1
    # The charge names no customer and no email: it and the records that
    # reach their client through it wait until someone says whose it is.
    assert [outcomes[n]["unmatched"] for n in ("dispute", "refund", "charge")] == [1, 1, 1]
    reasons = [reason for _, status, _, reason in inbox(session) if status == "skipped"]
    assert reasons == [
        "stripe event type 'plan.created' is not mapped",
        f"stripe invoice {INVOICE} is a draft: not issued yet",
    ]

    result = runner.invoke(args=["identities", "map", "stripe_charge", CHARGE, "acme"])
    assert result.exit_code == 0, result.output

    assert events(session) == {
        f"{SUBSCRIPTION}:created": (
            "subscription.created",
            Decimal("20.00"),
            "USD",
            SUBSCRIPTION,
        ),
        f"{CHARGE}:succeeded": ("payment.received", Decimal("1.00"), "USD", CHARGE),
        f"{DISPUTE}:opened": ("dispute.opened", Decimal("10.00"), "USD", DISPUTE),
        f"{REFUND}:succeeded": ("refund.issued", Decimal("1.00"), "USD", CHARGE),
    }
    assert set(session.scalars(select(Event.client_id))) == {acme.id}
    dispute = entities(session)[("dispute", DISPUTE)]
    assert dispute[:3] == ("warning_needs_response", Decimal("10.00"), "USD")
    assert dispute[3] == at(1723679999)  # evidence_details.due_by
    assert all(status == "replayed" for _, status, _, _ in inbox(session)[2:])


def test_a_list_response_gives_one_record_per_object(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    page = {"object": "list", "data": [fixture("subscription"), fixture("invoice")]}
    assert ingest(runner, write(tmp_path, "subs.json", page))["accepted"] == 1
    assert inbox(session) == [
        ("data[1]", "skipped", None, f"stripe invoice {INVOICE} is a draft: not issued yet")
    ]


def test_bare_objects_give_the_events_their_state_implies(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    paid = obj("invoice", status="paid", amount_paid=1000)
    paid["status_transitions"] |= {"finalized_at": T0, "paid_at": T0 + 60}
    cancelled = obj("subscription", status="canceled", canceled_at=T0 + 90, ended_at=None)
    closed = obj("dispute", status="lost", customer=CUSTOMER)
    assert (
        ingest(runner, write(tmp_path, "export.json", [paid, cancelled, closed]))["accepted"] == 3
    )
    assert set(events(session)) == {
        f"{INVOICE}:issued",
        f"{INVOICE}:paid",
        f"{SUBSCRIPTION}:created",
        f"{SUBSCRIPTION}:cancelled",
        f"{DISPUTE}:opened",
        f"{DISPUTE}:closed",
    }
    states = entities(session)
    assert states[("invoice", INVOICE)][0] == "paid"
    assert states[("invoice", INVOICE)][4] == at(T0 + 60)  # closed when paid
    assert states[("dispute", DISPUTE)][0] == "lost"
    # Ended without an ended_at: canceled_at stands in, and says so.
    ended = event_row(session, f"{SUBSCRIPTION}:cancelled")
    assert ended.occurred_at == at(T0 + 90)
    assert ended.attributes["inferred"] == {"ended_at": "canceled_at"}


# --- events -------------------------------------------------------------------


def test_each_event_type_maps_to_its_kind_and_thread(runner, session, tmp_path):
    acme = make_client("acme", identities=[("stripe", CUSTOMER)])
    summary = ingest(runner, write(tmp_path, "events.ndjson", history()))
    # The disputes came in the batch that taught the pipeline their charge:
    # they wait, and are replayed as soon as the batch is written.
    # invoice.paid and invoice.payment_succeeded tell of one step: one event.
    assert (summary["accepted"], summary["duplicate"], summary["unmatched"]) == (9, 1, 2)
    assert [status for _, status, _, _ in inbox(session)] == ["replayed", "replayed"]

    # A step of an object's life is keyed by the object and the step, so
    # whichever record tells of it, it is one event; a fact that is no step
    # (a failed attempt, a change) keeps its event's id.
    assert events(session) == {
        f"{INVOICE}:issued": ("invoice.issued", Decimal("10.00"), "USD", INVOICE),
        "evt_fail": ("payment.failed", Decimal("10.00"), "USD", INVOICE),
        "ch_failed:failed": ("payment.failed", Decimal("10.00"), "USD", INVOICE),
        f"{CHARGE}:succeeded": ("payment.received", Decimal("10.00"), "USD", INVOICE),
        f"{INVOICE}:paid": ("payment.received", Decimal("10.00"), "USD", INVOICE),
        f"{DISPUTE}:opened": ("dispute.opened", Decimal("10.00"), "USD", DISPUTE),
        f"{DISPUTE}:closed": ("dispute.closed", Decimal("10.00"), "USD", DISPUTE),
        f"{CHARGE}:refunded:400": ("refund.issued", Decimal("4.00"), "USD", INVOICE),
        f"{SUBSCRIPTION}:created": ("subscription.created", Decimal("20.00"), "USD", SUBSCRIPTION),
        "evt_sub2": ("subscription.updated", Decimal("20.00"), "USD", SUBSCRIPTION),
        f"{SUBSCRIPTION}:cancelled": (
            "subscription.cancelled",
            Decimal("20.00"),
            "USD",
            SUBSCRIPTION,
        ),
    }
    states = entities(session)
    assert states[("invoice", INVOICE)] == (
        "refunded",
        Decimal("4.00"),
        "USD",
        at(1234567890),  # due_date of the finalized invoice
        at(T0 + 20),  # closed when it was paid; the refund after it keeps that time
        6,
    )
    assert states[("dispute", DISPUTE)] == (
        "won",
        Decimal("10.00"),
        "USD",
        at(1723679999),
        at(T0 + 40),
        2,
    )
    # The charges taught the pipeline their ids; the dispute came after them.
    learnt = session.scalars(select(Identity).where(Identity.system == "stripe_charge")).all()
    assert {(i.external_key, i.client_id) for i in learnt} == {
        (CHARGE, acme.id),
        ("ch_failed", acme.id),
    }

    issued = event_row(session, f"{INVOICE}:issued")
    assert issued.title == f"Invoice {INVOICE} finalized: USD 10.00"
    assert issued.url == f"https://dashboard.stripe.com/test/invoices/{INVOICE}"
    assert issued.occurred_at == at(T0)
    assert issued.attributes["stripe_event"] == "evt_fin"
    dispute = event_row(session, f"{DISPUTE}:opened")
    assert dispute.attributes["evidence_due_by"] == "2024-08-14T23:59:59+00:00"
    assert dispute.attributes["reason"] == "general"
    assert dispute.attributes["status"] == "warning_needs_response"
    assert event_row(session, "ch_failed:failed").detail == "Your card was declined."
    updated = event_row(session, "evt_sub2")
    assert updated.attributes["changed"] == ["cancel_at_period_end"]
    ended = event_row(session, f"{SUBSCRIPTION}:cancelled")
    assert ended.occurred_at == at(T0 + 60)  # when it ended, not when it was canceled


def test_the_same_events_twice_or_reversed_give_the_same_states(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    path = write(tmp_path, "events.json", history())
    ingest(runner, path)
    rows, states = events(session), entities(session)
    again = ingest(runner, path)
    assert (again["accepted"], again["duplicate"]) == (0, 12)
    assert (events(session), entities(session)) == (rows, states)

    # Reversed, into an empty timeline that has not learnt the charge ids yet.
    session.execute(Event.__table__.delete())
    session.execute(Entity.__table__.delete())
    session.execute(Identity.__table__.delete().where(Identity.system != "stripe"))
    session.commit()
    reversed_ = ingest(runner, write(tmp_path, "reversed.json", history()[::-1]))
    assert (reversed_["accepted"], reversed_["unmatched"]) == (9, 2)  # disputes, replayed
    assert (events(session), entities(session)) == (rows, states)


def test_a_dispute_waits_for_its_charge_then_goes_in_by_itself(runner, session, tmp_path):
    acme = make_client("acme", identities=[("stripe", CUSTOMER)])
    dispute = event("evt_dp", "charge.dispute.created", obj("dispute"), T0 + 30)
    assert ingest(runner, write(tmp_path, "dispute.json", dispute))["unmatched"] == 1
    assert inbox(session)[0][3] == f"no client found for stripe_charge {CHARGE}"

    charge = obj("charge", customer=CUSTOMER)
    succeeded = event("evt_ch", "charge.succeeded", charge)
    assert ingest(runner, write(tmp_path, "charge.json", succeeded))["accepted"] == 1

    assert dict(session.execute(select(Event.external_id, Event.client_id)).all()) == {
        f"{CHARGE}:succeeded": acme.id,
        f"{DISPUTE}:opened": acme.id,
    }
    assert [status for _, status, _, _ in inbox(session)] == ["replayed"]
    assert entities(session)[("dispute", DISPUTE)][0] == "warning_needs_response"


def test_the_older_event_shape(runner, session, tmp_path):
    """Before 2014: no `object`/`api_version`, `charge.disputed` carrying a
    dispute without id and with `evidence_due_by` at its top."""
    make_client("acme", identities=[("stripe", "cus_old")])
    charge = {
        "id": "ch_old",
        "object": "charge",
        "amount": 2500,
        "currency": "eur",
        "customer": "cus_old",
        "paid": True,
        "livemode": True,
        "created": T0,
    }
    old_dispute = {
        "object": "dispute",
        "charge": "ch_old",
        "amount": 2500,
        "currency": "eur",
        "status": "needs_response",
        "reason": "fraudulent",
        "evidence_due_by": T0 + 86400,
        "created": T0 + 100,
        "livemode": True,
    }
    records = [
        {
            "id": "evt_old1",
            "created": T0,
            "livemode": True,
            "type": "charge.succeeded",
            "data": {"object": charge},
        },
        {
            "id": "evt_old2",
            "created": T0 + 100,
            "livemode": True,
            "type": "charge.disputed",
            "data": {"object": old_dispute},
        },
    ]
    summary = ingest(runner, write(tmp_path, "old.ndjson", records))
    assert (summary["accepted"], summary["unmatched"]) == (1, 1)  # the dispute, replayed
    # Without an id of its own, the dispute is known by its charge.
    assert events(session)["ch_old:opened"] == ("dispute.opened", Decimal("25.00"), "EUR", "ch_old")
    state = entities(session)[("dispute", "ch_old")]
    assert (state[0], state[3]) == ("needs_response", at(T0 + 86400))
    opened = event_row(session, "ch_old:opened")
    assert opened.attributes["inferred"] == {
        "id": "data.object.charge",
        "evidence_details.due_by": "data.object.evidence_due_by",
    }
    payment = event_row(session, "ch_old:succeeded")
    assert payment.url == "https://dashboard.stripe.com/payments/ch_old"  # live mode
    assert payment.attributes["inferred"] == {"status": "data.object.paid"}


def test_zero_and_three_decimal_currencies(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    yen = obj("invoice", status="open", currency="jpy", amount_due=1500)
    ingest(runner, write(tmp_path, "jpy.json", event("evt_jpy", "invoice.finalized", yen)))
    assert events(session)[f"{INVOICE}:issued"][1:3] == (Decimal("1500"), "JPY")
    title = session.scalars(select(Event.title)).one()
    assert title == f"Invoice {INVOICE} finalized: JPY 1500"

    def money(amount, currency):
        return stripe_fields.Fields({"a": amount, "currency": currency}, "").money("a")

    assert money(5120, "kwd") == Decimal("5.120")
    assert money(1999, "eur") == Decimal("19.99")
    assert money(700, "krw") == Decimal("700")


# --- what does not go in --------------------------------------------------------


def _without(record: dict, *names: str) -> dict:
    return {k: v for k, v in record.items() if k not in names}


@pytest.mark.parametrize(
    ("record", "status", "field", "reason"),
    [
        (
            event("evt_x", "customer.created", {"id": "cus_1", "object": "customer"}),
            "skipped",
            None,
            "stripe event type 'customer.created' is not mapped",
        ),
        (
            fixture("event") | {"type": "charge.dispute.funds_withdrawn"},
            "skipped",
            None,
            "stripe event type 'charge.dispute.funds_withdrawn' is not mapped",
        ),
        (
            {"id": "cus_1", "object": "customer", "created": T0},
            "skipped",
            None,
            "stripe object 'customer' is not mapped (only events and the objects "
            "charge, dispute, invoice, invoice_payment, refund, subscription are)",
        ),
        (
            event("evt_d", "invoice.created", obj("invoice")),
            "skipped",
            None,
            f"stripe invoice {INVOICE} is a draft: not issued yet",
        ),
        (
            _without(event("evt_y", "charge.succeeded", {}), "created"),
            "rejected",
            "created",
            "created Missing data for required field.",
        ),
        (
            # No currency, and nothing it carries says one: no lines, no
            # expanded charge or customer.
            event(
                "evt_z",
                "invoice.finalized",
                _without(obj("invoice", status="open"), "currency", "lines"),
            ),
            "rejected",
            "data.object.currency",
            "data.object.currency is required",
        ),
        (
            event("evt_w", "charge.refunded", obj("charge", amount_refunded="4.00")),
            "rejected",
            "data.object.amount_refunded",
            "data.object.amount_refunded must be an integer amount in minor units, not '4.00'",
        ),
        (
            # A refund event that says nothing of how much: nothing stands in.
            event(
                "evt_v",
                "charge.refunded",
                _without(obj("charge", refunds=None), "amount_refunded", "refunded"),
            ),
            "rejected",
            "data.object.amount_refunded",
            "data.object.amount_refunded is required",
        ),
        (
            _without(obj("charge", customer=CUSTOMER), "created"),
            "rejected",
            "created",
            "created is required",
        ),
    ],
)
def test_what_is_skipped_or_rejected(runner, session, tmp_path, record, status, field, reason):
    assert ingest(runner, write(tmp_path, "one.json", record))[status] == 1
    assert inbox(session) == [("index 0", status, field, reason)]


def test_a_signed_webhook_delivery_goes_through_the_connector(app, client, session):
    """The lead's endpoint with this connector: a webhook body is one event."""
    app.config["WEBHOOK_SECRETS"] = {"stripe": "whsec_test"}
    make_client("acme", identities=[("stripe", CUSTOMER)])
    body = json.dumps(event("evt_hook", "invoice.finalized", obj("invoice", status="open")))
    header = sign_stripe("whsec_test", body.encode(), int(time.time()))
    response = client.post("/webhooks/stripe", data=body, headers={STRIPE_HEADER: header})
    assert response.status_code == 200, response.json
    assert response.json["accepted"] == 1
    assert events(session)[f"{INVOICE}:issued"][0] == "invoice.issued"


def test_a_subscription_whose_items_name_only_their_price_has_no_amount(runner, session, tmp_path):
    """Unexpanded, an item's price is its id: the amount is unknown, not an error."""
    make_client("acme", identities=[("stripe", CUSTOMER)])
    sub = obj("subscription")
    for item in sub["items"]["data"]:
        item["price"] = "price_1PgafmB7WZ01zgkW3Sa0nZHq"
    assert ingest(runner, write(tmp_path, "sub.json", sub))["accepted"] == 1
    assert events(session)[f"{SUBSCRIPTION}:created"][1:3] == (None, None)
