"""The stripe connector, on Stripe's own OpenAPI fixtures and events built from them."""

import copy
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import stripe_fields
from connectors.signatures import STRIPE_HEADER, sign_stripe
from crm.models import Entity, Event, Identity, InboxRecord
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures/vendors"
CUSTOMER = "cus_QXg1o8vcGmoR32"  # the customer of the fixture invoice and subscription
CHARGE = "ch_1PgafuB7WZ01zgkWXYmPNZs8"  # the fixture charge, which the dispute disputes
INVOICE = "in_1Pgc6tB7WZ01zgkWu9fdqL6I"
DISPUTE = "dp_1Pgc71B7WZ01zgkWMevJiAUx"
SUBSCRIPTION = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
T0 = 1_790_000_000  # 2026-09-21T14:13:20Z


def fixture(name: str) -> dict:
    return json.loads((VENDORS / f"stripe_openapi_fixture_{name}.json").read_text())


def obj(name: str, **changes) -> dict:
    return copy.deepcopy(fixture(name)) | changes


def event(event_id: str, type_: str, data_object: dict, created: int = T0, **extra) -> dict:
    """An event of the current shape around `data_object`."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": data_object} | extra,
    }


def ingest(runner, path) -> dict:
    return ingest_file(runner, "stripe", path)


def write(tmp_path: Path, name: str, records) -> Path:
    path = tmp_path / name
    if name.endswith(".ndjson"):
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    else:
        path.write_text(json.dumps(records))
    return path


def inbox(session) -> list[tuple]:
    return session.execute(
        select(
            InboxRecord.locator, InboxRecord.status, InboxRecord.field, InboxRecord.reason
        ).order_by(InboxRecord.id)
    ).all()


def events(session) -> dict[str, tuple]:
    rows = session.execute(
        select(Event.external_id, Event.kind, Event.amount, Event.currency, Event.thread_key)
    ).all()
    return {external_id: tuple(rest) for external_id, *rest in rows}


def entities(session) -> dict[tuple[str, str], tuple]:
    rows = session.execute(
        select(
            Entity.type,
            Entity.key,
            Entity.status,
            Entity.amount,
            Entity.currency,
            Entity.due_at,
            Entity.closed_at,
            Entity.event_count,
        )
    ).all()
    return {(t, k): tuple(rest) for t, k, *rest in rows}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def history() -> list[dict]:
    """A client's billing year as Stripe would send it, built from the fixtures."""
    paid_invoice = obj("invoice", status="paid", amount_paid=1000, amount_remaining=0)
    card = obj("charge", customer=CUSTOMER, invoice=INVOICE, amount=1000, receipt_email=None)
    refunded = card | {"amount_refunded": 400, "refunded": False}
    failed = card | {
        "id": "ch_failed",
        "status": "failed",
        "failure_code": "card_declined",
        "failure_message": "Your card was declined.",
    }
    won = obj("dispute", status="won")
    sub = obj("subscription")
    return [
        event("evt_fin", "invoice.finalized", obj("invoice", status="open"), T0),
        event("evt_fail", "invoice.payment_failed", obj("invoice", status="open"), T0 + 10),
        event("evt_chfail", "charge.failed", failed, T0 + 10),
        event("evt_ch", "charge.succeeded", card, T0 + 20),
        event("evt_paid", "invoice.paid", paid_invoice, T0 + 20),
        event("evt_succ", "invoice.payment_succeeded", paid_invoice, T0 + 20),
        event("evt_dp", "charge.dispute.created", obj("dispute"), T0 + 30),
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
        event("evt_sub3", "customer.subscription.deleted", sub | {"status": "canceled"}, T0 + 60),
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
        "re_1Pgc72B7WZ01zgkWqPvrRrPE:succeeded": ("refund.issued", Decimal("1.00"), "USD", CHARGE),
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
    cancelled = obj("subscription", status="canceled", canceled_at=T0 + 90)
    closed = obj("dispute", status="lost", customer=CUSTOMER)
    assert (
        ingest(runner, write(tmp_path, "export.json", [paid, cancelled, closed]))["accepted"] == 3
    )
    assert set(events(session)) == {
        f"{INVOICE}:issued",
        f"{INVOICE}:paid",
        f"{SUBSCRIPTION}:created",
        f"{SUBSCRIPTION}:cancelled",
        f"{DISPUTE}:closed",
    }
    states = entities(session)
    assert states[("invoice", INVOICE)][0] == "paid"
    assert states[("invoice", INVOICE)][4] == at(T0 + 60)  # closed when paid
    assert states[("dispute", DISPUTE)][0] == "lost"


# --- events -------------------------------------------------------------------


def test_each_event_type_maps_to_its_kind_and_thread(runner, session, tmp_path):
    acme = make_client("acme", identities=[("stripe", CUSTOMER)])
    summary = ingest(runner, write(tmp_path, "events.ndjson", history()))
    # The disputes came in the batch that taught the pipeline their charge:
    # they wait, and are replayed as soon as the batch is written.
    # invoice.paid and invoice.payment_succeeded report one payment: one event.
    assert (summary["accepted"], summary["duplicate"], summary["unmatched"]) == (9, 1, 2)
    assert [status for _, status, _, _ in inbox(session)] == ["replayed", "replayed"]

    assert events(session) == {
        "evt_fin": ("invoice.issued", Decimal("10.00"), "USD", INVOICE),
        "evt_fail": ("payment.failed", Decimal("10.00"), "USD", INVOICE),
        "evt_chfail": ("payment.failed", Decimal("10.00"), "USD", INVOICE),
        "evt_ch": ("payment.received", Decimal("10.00"), "USD", INVOICE),
        f"{INVOICE}:paid": ("payment.received", Decimal("10.00"), "USD", INVOICE),
        "evt_dp": ("dispute.opened", Decimal("10.00"), "USD", DISPUTE),
        "evt_dpwon": ("dispute.closed", Decimal("10.00"), "USD", DISPUTE),
        "evt_ref": ("refund.issued", Decimal("4.00"), "USD", INVOICE),
        "evt_sub1": ("subscription.created", Decimal("20.00"), "USD", SUBSCRIPTION),
        "evt_sub2": ("subscription.updated", Decimal("20.00"), "USD", SUBSCRIPTION),
        "evt_sub3": ("subscription.cancelled", Decimal("20.00"), "USD", SUBSCRIPTION),
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

    fin = session.scalars(select(Event).where(Event.external_id == "evt_fin")).one()
    assert fin.title == f"Invoice {INVOICE} finalized: USD 10.00"
    assert fin.url == f"https://dashboard.stripe.com/test/invoices/{INVOICE}"
    assert fin.occurred_at == at(T0)
    dispute = session.scalars(select(Event).where(Event.external_id == "evt_dp")).one()
    assert dispute.attributes["evidence_due_by"] == "2024-08-14T23:59:59+00:00"
    assert dispute.attributes["reason"] == "general"
    assert dispute.attributes["status"] == "warning_needs_response"
    failed = session.scalars(select(Event).where(Event.external_id == "evt_chfail")).one()
    assert failed.detail == "Your card was declined."
    updated = session.scalars(select(Event).where(Event.external_id == "evt_sub2")).one()
    assert updated.attributes["changed"] == ["cancel_at_period_end"]


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
    session.execute(Identity.__table__.delete().where(Identity.system == "stripe_charge"))
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
    assert (
        ingest(runner, write(tmp_path, "charge.json", event("evt_ch", "charge.succeeded", charge)))[
            "accepted"
        ]
        == 1
    )

    assert dict(session.execute(select(Event.external_id, Event.client_id)).all()) == {
        "evt_ch": acme.id,
        "evt_dp": acme.id,
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
    assert events(session)["evt_old2"] == ("dispute.opened", Decimal("25.00"), "EUR", "ch_old")
    state = entities(session)[("dispute", "ch_old")]
    assert (state[0], state[3]) == ("needs_response", at(T0 + 86400))
    payment = session.scalars(select(Event).where(Event.external_id == "evt_old1")).one()
    assert payment.url == "https://dashboard.stripe.com/payments/ch_old"  # live mode


def test_zero_and_three_decimal_currencies(runner, session, tmp_path):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    yen = obj("invoice", status="open", currency="jpy", amount_due=1500)
    ingest(runner, write(tmp_path, "jpy.json", event("evt_jpy", "invoice.finalized", yen)))
    assert events(session)["evt_jpy"][1:3] == (Decimal("1500"), "JPY")
    title = session.scalars(select(Event.title)).one()
    assert title == f"Invoice {INVOICE} finalized: JPY 1500"

    def money(amount, currency):
        return stripe_fields.Fields({"a": amount, "currency": currency}, "").money("a")

    assert money(5120, "kwd") == Decimal("5.120")
    assert money(1999, "eur") == Decimal("19.99")
    assert money(700, "krw") == Decimal("700")


# --- what does not go in --------------------------------------------------------


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
            fixture("event") | {"type": "charge.dispute.updated"},
            "skipped",
            None,
            "stripe event type 'charge.dispute.updated' is not mapped",
        ),
        (
            {"id": "cus_1", "object": "customer", "created": T0},
            "skipped",
            None,
            "stripe object 'customer' is not mapped (only events and the objects "
            "charge, dispute, invoice, refund, subscription are)",
        ),
        (
            {k: v for k, v in event("evt_y", "charge.succeeded", {}).items() if k != "created"},
            "rejected",
            "created",
            "created Missing data for required field.",
        ),
        (
            event(
                "evt_z",
                "invoice.finalized",
                {k: v for k, v in obj("invoice").items() if k != "currency"},
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
    assert events(session)["evt_hook"][0] == "invoice.issued"
