"""Stripe payloads of older API versions, as Stripe itself published them.

Stripe renders events in the account's pinned API version: a ten-year-old
account still gets invoices with `date` and `paid`, subscriptions without an
id and `charge.disputed` on the charge itself. These go in with what they
carry; what had to be inferred says so in attributes["inferred"] (field ->
the path it was read from). The files are Stripe's own: its 2012 sample
webhooks and 2014/2016 model fixtures (stripe/stripe-java) and its first
OpenAPI fixtures (stripe/openapi, 2017); see tests/fixtures/vendors/SOURCES.md.
"""

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.models import Event, Identity
from tests.factories import make_client
from tests.stripe_data import (
    CHARGE,
    CUSTOMER,
    INVOICE,
    VENDORS,
    at,
    entities,
    event,
    event_row,
    events,
    inbox,
    ingest,
    obj,
    opened_closed,
    vendor,
    write,
)

OLD_CUSTOMER = "cus_00000000000000"  # every customer of Stripe's 2012 samples
OLD_CHARGE = "ch_00000000000000"
OLD_INVOICE = "in_00000000000000"
# Before 2014 a customer had one subscription, with no id of its own.
OLD_SUBSCRIPTION = f"{OLD_CUSTOMER}:FR010_00000000000000"


def test_stripes_2012_sample_webhooks_go_in_with_what_they_carry(runner, session):
    acme = make_client("acme", identities=[("stripe", OLD_CUSTOMER)])
    summary = ingest(runner, VENDORS / "stripe_java_webhook_events_2012.json")
    assert (summary["rejected"], summary["unmatched"], summary["skipped"]) == (0, 0, 2)
    # Stripe's samples all carry the id evt_00000000000000: the two facts that
    # are keyed by their event's id (a subscription change, a failed payment
    # attempt) are one to the pipeline, and the second is a duplicate (counted,
    # not kept in the inbox). Steps are keyed by their object, so they do not
    # collide.
    statuses = [status for _, status, _, _ in inbox(session)]
    assert statuses == ["skipped", "skipped"]
    assert (summary["accepted"], summary["duplicate"]) == (8, 4)

    assert events(session) == {
        f"{OLD_CHARGE}:succeeded": ("payment.received", Decimal("10.00"), "USD", OLD_INVOICE),
        f"{OLD_CHARGE}:failed": ("payment.failed", Decimal("10.00"), "USD", OLD_INVOICE),
        f"{OLD_CHARGE}:refunded:1000": ("refund.issued", Decimal("10.00"), "USD", OLD_INVOICE),
        f"{OLD_CHARGE}:opened": ("dispute.opened", Decimal("10.00"), "USD", OLD_CHARGE),
        f"{OLD_INVOICE}:issued": ("invoice.issued", Decimal("10.00"), "USD", OLD_INVOICE),
        f"{OLD_INVOICE}:paid": ("payment.received", Decimal("10.00"), "USD", OLD_INVOICE),
        f"{OLD_SUBSCRIPTION}:created": (
            "subscription.created",
            Decimal("276.00"),
            "USD",
            OLD_SUBSCRIPTION,
        ),
        "evt_00000000000000": (
            "subscription.updated",
            Decimal("276.00"),
            "USD",
            OLD_SUBSCRIPTION,
        ),
        f"{OLD_SUBSCRIPTION}:cancelled": (
            "subscription.cancelled",
            Decimal("276.00"),
            "USD",
            OLD_SUBSCRIPTION,
        ),
    }
    assert set(session.scalars(select(Event.client_id))) == {acme.id}

    # An invoice without `currency`, `created` or `status`: its currency is
    # its plan's, its time its `date`, its status what `paid` says.
    issued = event_row(session, f"{OLD_INVOICE}:issued")
    assert issued.occurred_at == at(1334074460)
    assert issued.attributes["inferred"] == {
        "status": "data.object.paid",
        "created": "data.object.date",
        "status_transitions.finalized_at": "data.object.date",
        "currency": "data.object.lines.subscriptions.0.plan.currency",
    }
    # Paid with no time of its own: the event's, but not before it was issued.
    paid = event_row(session, f"{OLD_INVOICE}:paid")
    assert paid.occurred_at == issued.occurred_at
    assert paid.attributes["inferred"]["status_transitions.paid_at"] == "data.object.date"
    assert paid.attributes["inferred"]["amount_paid"] == "data.object.amount_due"

    # `charge.disputed` whose object is the charge itself: the dispute is
    # known by its charge, opened when the event says.
    dispute = event_row(session, f"{OLD_CHARGE}:opened")
    assert dispute.occurred_at == at(1326853478)
    assert dispute.url == f"https://dashboard.stripe.com/test/payments/{OLD_CHARGE}"
    assert dispute.attributes["inferred"] == {
        "charge": "data.object.id",
        "id": "data.object.id",
        "created": "created",
        "currency": "data.object.currency",
        "amount": "data.object.amount",
        "customer": "data.object.customer",
    }
    # A charge refunded before `amount_refunded`: `refunded: true` is all of it.
    refund = event_row(session, f"{OLD_CHARGE}:refunded:1000")
    assert refund.attributes["inferred"]["amount_refunded"] == "data.object.amount"
    assert refund.attributes["inferred"]["status"] == "data.object.paid"

    subscription = event_row(session, f"{OLD_SUBSCRIPTION}:created")
    assert subscription.occurred_at == at(1329420141)  # `start`
    assert subscription.attributes["inferred"] == {
        "id": "data.object.customer + data.object.plan.id",
        "start_date": "data.object.start",
        "currency": "data.object.plan.currency",
    }
    states = opened_closed(session)
    assert states[("invoice", OLD_INVOICE)] == ("paid", at(1333543274), at(1334074460))
    assert states[("dispute", OLD_CHARGE)] == ("open", at(1326853478), None)


def test_a_2016_invoice_export_and_the_dispute_it_places(runner, session, tmp_path):
    """An invoice export of 2016: `date`, `paid` and `payment`, no `created`,
    `status` or `status_transitions`. It names its charge, which it teaches
    for its client: a dispute naming only that charge then goes in."""
    acme = make_client("acme", identities=[("stripe", "cus_8DiGyHUyZFiabU")])
    summary = ingest(runner, VENDORS / "stripe_java_model_invoice_2016.json")
    assert summary["accepted"] == 1
    paid = event_row(session, "in_8vzsBYq9vA4uHF:paid")
    assert (paid.kind, paid.amount, paid.occurred_at) == (
        "payment.received",
        Decimal("60.00"),
        at(1470163519),
    )
    assert paid.attributes["inferred"] == {
        "status": "paid",
        "created": "date",
        "status_transitions.finalized_at": "date",
        "status_transitions.paid_at": "date",
        "amount_paid": "amount_due",
    }
    taught = session.execute(select(Identity.system, Identity.external_key, Identity.client_id))
    assert set(taught) >= {
        ("stripe_invoice", "in_8vzsBYq9vA4uHF", acme.id),
        ("stripe_charge", "ch_8vzszxcNLVJXqF", acme.id),
    }

    dispute = obj("dispute", charge="ch_8vzszxcNLVJXqF", created=1470200000)
    assert ingest(runner, write(tmp_path, "dispute.json", dispute))["accepted"] == 1
    assert opened_closed(session)[("dispute", dispute["id"])][0] == "warning_needs_response"


def test_a_2014_dispute_without_an_id_is_known_by_its_charge(runner, session):
    acme = make_client("acme")
    path = VENDORS / "stripe_java_model_dispute_2014.json"
    assert ingest(runner, path)["unmatched"] == 1
    assert inbox(session)[0][3] == "no client found for stripe_charge 123444"
    runner.invoke(args=["identities", "map", "stripe_charge", "123444", "acme"])

    opened = event_row(session, "123444:opened")
    assert opened.client_id == acme.id
    assert opened.attributes["inferred"] == {"id": "charge"}
    assert entities(session)[("dispute", "123444")] == (
        "needs_response",
        Decimal("10.00"),
        "USD",
        at(1419638399),  # evidence_details.due_by
        None,
        1,
    )


def test_stripes_2017_api_objects(runner, session, tmp_path):
    """The first published OpenAPI fixtures (API 2017-02-14): invoices with
    `date`/`paid`, subscriptions with `start` and `plan`, "" for null."""
    acme = make_client("acme", identities=[("stripe", "cus_AAuLxPuOFN7Ull")])
    make_client("beta", identities=[("stripe", "cus_AAuLOB7WALx4Zo")])
    records = [
        vendor(f"stripe_openapi_2017_fixture_{name}.json")
        for name in ("invoice", "subscription", "charge", "dispute", "refund")
    ]
    summary = ingest(runner, write(tmp_path, "export.json", records))
    # The charge names no customer ("" is none): it, its dispute and refund wait.
    assert (summary["accepted"], summary["unmatched"], summary["rejected"]) == (2, 3, 0)
    runner.invoke(
        args=["identities", "map", "stripe_charge", "ch_19qYWoAmUcJIthQ8bXdOlg7i", "acme"]
    )

    assert set(events(session)) == {
        "in_19qYWoAmUcJIthQ8mMavVKyP:issued",
        "sub_AAuLAT8thsFpDe:created",
        "ch_19qYWoAmUcJIthQ8bXdOlg7i:succeeded",
        "dp_19qYWoAmUcJIthQ8hiQKRidU:opened",
        "re_19qYWoAmUcJIthQ8cKkdY9yt:succeeded",
    }
    issued = event_row(session, "in_19qYWoAmUcJIthQ8mMavVKyP:issued")
    assert (issued.client_id, issued.attributes["stripe_status"]) == (acme.id, "open")
    subscription = event_row(session, "sub_AAuLAT8thsFpDe:created")
    assert (subscription.amount, subscription.currency) == (Decimal("20.00"), "USD")
    assert subscription.attributes["inferred"] == {
        "start_date": "start",
        "currency": "plan.currency",
    }
    assert entities(session)[("dispute", "dp_19qYWoAmUcJIthQ8hiQKRidU")][3] == at(1489622399)


def _currencyless_invoice(**carried) -> dict:
    """The fixture invoice without a currency anywhere, carrying `carried`."""
    invoice = obj("invoice", status="open")
    del invoice["currency"]
    for line in invoice["lines"]["data"]:
        del line["currency"]
    return invoice | carried


@pytest.mark.parametrize(
    ("carried", "source"),
    [
        ({"charge": obj("charge", currency="eur")}, "data.object.charge.currency"),
        ({"customer": obj("customer", currency="eur")}, "data.object.customer.currency"),
        (
            {"lines": {"object": "list", "data": [{"amount": 1000, "currency": "eur"}]}},
            "data.object.lines.data.0.currency",
        ),
    ],
)
def test_an_invoice_without_currency_takes_the_one_it_carries(
    runner, session, tmp_path, carried, source
):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    record = event("evt_1", "invoice.finalized", _currencyless_invoice(**carried))
    assert ingest(runner, write(tmp_path, "one.json", record))["accepted"] == 1
    issued = event_row(session, f"{INVOICE}:issued")
    assert (issued.currency, issued.amount) == ("EUR", Decimal("10.00"))
    assert issued.attributes["inferred"]["currency"] == source


# Each fixture as a record that goes in: names a known client, has happened.
GOING_IN = {
    "invoice": {"status": "paid", "amount_paid": 1000},
    "invoice_payment": {"invoice": INVOICE, "status": "paid", "currency": "usd"},
    "charge": {},
    "dispute": {},
    "refund": {},
    "subscription": {},
}


@pytest.mark.parametrize("name", sorted(GOING_IN))
def test_an_unknown_extra_field_never_rejects_a_record(runner, session, tmp_path, name):
    """A newer API version's field, or anything else, is carried along."""
    make_client("acme", identities=[("stripe", CUSTOMER), ("stripe_charge", CHARGE)])
    runner.invoke(args=["identities", "map", "stripe_invoice", INVOICE, "acme"])
    record = obj(name, **GOING_IN[name]) | {"a_field_from_2030": {"nested": [1, "two", None]}}
    summary = ingest(runner, write(tmp_path, "one.json", record))
    assert (summary["accepted"], summary["rejected"]) == (1, 0), inbox(session)


def test_a_2013_charge_disputed_with_the_dispute_inside_the_charge(runner, session, tmp_path):
    """Built to the documented 2013 shape, of which Stripe published no
    fixture: `charge.disputed`'s object is the charge, its `dispute` inside
    it without id, charge or currency; the charge says those."""
    acme = make_client("acme", identities=[("stripe", OLD_CUSTOMER)])
    charge = vendor("stripe_java_webhook_events_2012.json")[3]["data"]["object"]
    charge["dispute"] = {
        "object": "dispute",
        "amount": 1000,
        "status": "lost",
        "reason": "fraudulent",
        "evidence_due_by": 1335916799,
        "created": 1334102000,
        "livemode": False,
    }
    disputed = {"id": "evt_2013", "type": "charge.disputed", "created": 1335999999}
    disputed |= {"livemode": False, "data": {"object": charge}}
    assert ingest(runner, write(tmp_path, "disputed.json", disputed))["accepted"] == 1
    # Settled already: its opening is implied at its creation, its closing told.
    assert opened_closed(session)[("dispute", OLD_CHARGE)] == (
        "lost",
        at(1334102000),
        at(1335999999),
    )
    closed = event_row(session, f"{OLD_CHARGE}:closed")
    assert (closed.client_id, closed.amount, closed.currency) == (acme.id, Decimal("10.00"), "USD")
    assert closed.attributes["inferred"] == {
        "charge": "data.object.id",
        "id": "data.object.id",
        "currency": "data.object.currency",
        "customer": "data.object.customer",
        "evidence_details.due_by": "data.object.dispute.evidence_due_by",
        "closed_at": "created",
    }
