"""The xero connector, against the example responses of Xero's OpenAPI spec."""

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.xero import parse_time
from crm import flags
from crm.models import Entity, Event, Identity, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
INVOICES = VENDORS / "xero_openapi_get_invoices.json"
INVOICE = VENDORS / "xero_openapi_get_invoice.json"
CONTACTS = VENDORS / "xero_openapi_get_contacts.json"
PAYMENTS = VENDORS / "xero_openapi_get_payments.json"
CREDIT_NOTES = VENDORS / "xero_openapi_get_creditnotes.json"
WEBHOOK = VENDORS / "xero_openapi_webhook_creditnote_event.json"
BARNEY = "a3675fc4-f8dd-4f03-ba5b-f1870566bcd7"  # the contact of INV-0001..0003
LIAM = "430fa14a-f945-44d3-9f97-5df5e28441b8"  # INV-0006, CN-0005
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def ingest(runner, path) -> dict:
    return ingest_file(runner, "xero", path)


def counts(summary: dict) -> tuple:
    return tuple(summary[name] for name in COUNTS)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def write(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_microsoft_json_dates_and_iso_times_are_read_as_utc():
    assert parse_time("/Date(1573755038314+0000)/") == datetime(
        2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC
    )
    # The offset names the zone it was entered in; the milliseconds are UTC.
    assert parse_time("/Date(1539993600000+1300)/") == datetime(2018, 10, 20, tzinfo=UTC)
    assert parse_time("/Date(1552326816230)/") == datetime(
        2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC
    )
    assert parse_time("2018-10-20T00:00:00") == datetime(2018, 10, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="Microsoft JSON date"):
        parse_time("20/10/2018")


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_invoices_open_close_and_void_at_their_own_times(runner, session):
    make_client("barney", identities=[("xero", BARNEY)])
    assert counts(ingest(runner, INVOICES)) == (3, 0, 0, 0, 0)
    states = {row.key: row for row in session.scalars(select(Entity))}
    voided = states["d4956132-ed94-4dd7-9eaa-aa22dfdf06f2"]
    assert (voided.status, voided.closed_at) == ("void", at(2018, 11, 2, 16, 31, 30, 160000))
    paid = states["046d8a6d-1ae1-4b4d-9340-5601bdf41b87"]
    assert (paid.status, paid.opened_at, paid.closed_at, paid.amount) == (
        "paid", at(2018, 10, 20), at(2018, 11, 29), Decimal("46.0")
    )  # fmt: skip
    open_one = states["7ef31b20-de17-4312-8382-412f869b1510"]
    assert (open_one.status, open_one.closed_at, open_one.due_at) == (
        "open", None, at(2018, 11, 7)
    )  # fmt: skip
    # Overdue by the one rule every invoice follows: only the open one.
    overdue = session.scalars(
        select(Entity.key).where(flags.kind_sql("overdue_invoice", at(2019, 1, 1)))
    ).all()
    assert overdue == ["7ef31b20-de17-4312-8382-412f869b1510"]
    # The money collected is the payment's, once, off the invoice's thread.
    money = session.execute(
        select(Event.external_id, Event.amount, Event.thread_key).where(
            Event.kind == "payment.received"
        ).order_by(Event.external_id)
    ).all()  # fmt: skip
    assert money == [
        ("046d8a6d-1ae1-4b4d-9340-5601bdf41b87:paid", None, "046d8a6d-1ae1-4b4d-9340-5601bdf41b87"),
        ("99ea7f6b-c513-4066-bc27-b7c65dcd76c2", Decimal("46.0"), None),
    ]


def test_reingest_and_the_payments_list_add_nothing_twice(runner, session):
    make_client("barney", identities=[("xero", BARNEY)])
    make_client("liam", identities=[("xero", LIAM)])
    ingest(runner, INVOICES)
    before = entity_states(session)
    assert counts(ingest(runner, INVOICES)) == (0, 3, 0, 0, 0)
    assert entity_states(session) == before
    # /Payments names the payment INV-0002's Payments already gave.
    summary = ingest(runner, PAYMENTS)
    assert counts(summary) == (1, 1, 0, 0, 0)
    refund = session.scalars(select(Event).where(Event.kind == "refund.issued")).one()
    assert (refund.amount, refund.currency, refund.title) == (
        Decimal("2.0"), "NZD", "Refund paid for CN-0005: NZD 2.0"
    )  # fmt: skip


def test_a_later_state_adds_only_its_new_step(runner, session, tmp_path):
    """The old shape (Microsoft dates) issued, then the SDK shape (ISO) paid."""
    make_client("barney", identities=[("xero", BARNEY)])
    document = load(INVOICES)
    issued = copy.deepcopy(document["Invoices"][2])
    assert counts(ingest(runner, write(tmp_path / "a.json", issued))) == (1, 0, 0, 0, 0)
    paid = issued | {
        "Status": "PAID",
        "Date": "2018-11-02T00:00:00",
        "DueDate": "2018-11-07T00:00:00",
        "FullyPaidOnDate": "2018-11-20T00:00:00",
        "AmountDue": 0.0,
        "AmountPaid": 115.0,
        "UpdatedDateUTC": "2018-11-20T09:00:00",
    }
    assert counts(ingest(runner, write(tmp_path / "b.json", paid))) == (1, 0, 0, 0, 0)
    entity = session.scalars(select(Entity)).one()
    assert (entity.status, entity.opened_at, entity.closed_at) == (
        "paid", at(2018, 11, 2), at(2018, 11, 20)
    )  # fmt: skip
    assert session.scalar(select(Event.attributes).where(Event.external_id.like("%:paid"))) == {
        "xero_id": issued["InvoiceID"], "number": "INV-0003", "xero_status": "PAID",
        "amount_due": "0.0", "amount_credited": "0.0",
    }  # fmt: skip


def test_contacts_register_their_id_for_the_client_their_email_names(runner, session):
    kat = make_client("clampett", emails=["kat.warren@clampett.com"])
    summary = ingest(runner, CONTACTS)
    assert counts(summary) == (1, 0, 0, 0, 1)
    kat_id = "5cc8cf28-567e-4d43-b287-687cfcaec47c"
    assert session.scalars(
        select(Identity.client_id).where(Identity.system == "xero", Identity.external_key == kat_id)
    ).one() == kat.id  # fmt: skip
    waiting = session.scalars(select(InboxRecord).where(InboxRecord.status == "unmatched")).one()
    assert "xero 3ec601ad-eddc-4ccb-a8ac-736e88293b1b" in waiting.reason


def test_an_account_number_places_a_contact_and_its_invoices(runner, session, tmp_path):
    acme = make_client("acme", identities=[("account", "AC-77")])
    contact = load(CONTACTS)["Contacts"][1] | {"AccountNumber": "AC-77", "ContactID": LIAM}
    assert counts(ingest(runner, write(tmp_path / "c.json", [contact])))[0] == 1
    assert counts(ingest(runner, INVOICE)) == (1, 0, 0, 0, 0)
    assert {e.client_id for e in session.scalars(select(Event))} == {acme.id}


def test_invoices_wait_for_their_contact_then_replay(runner, session):
    assert counts(ingest(runner, INVOICE)) == (0, 0, 0, 0, 1)
    make_client("liam")
    result = runner.invoke(args=["identities", "map", "xero", LIAM, "liam"])
    assert "1 accepted" in result.output, result.output
    assert session.scalars(select(Entity.status)).one() == "paid"


def test_credit_notes_bills_and_drafts(runner, session, tmp_path):
    make_client("liam", identities=[("xero", LIAM)])
    summary = ingest(runner, CREDIT_NOTES)
    assert counts(summary) == (1, 0, 1, 0, 0)
    note, refund = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    # The credit itself has no amount: only the cash paid back is money.
    assert (note.kind, note.amount, note.thread_key) == ("refund.issued", None, None)
    assert note.attributes["total"] == "34.5" and refund.amount == Decimal("2.0")
    bill = load(INVOICES)["Invoices"][2] | {"Type": "ACCPAY"}
    draft = load(INVOICES)["Invoices"][2] | {"Status": "DRAFT"}
    summary = ingest(runner, write(tmp_path / "d.json", [bill, draft]))
    assert counts(summary) == (0, 0, 2, 0, 0)


def test_a_bad_field_rejects_only_its_record_naming_it(runner, session, tmp_path):
    make_client("barney", identities=[("xero", BARNEY)])
    invoices = load(INVOICES)["Invoices"]
    invoices[0]["Date"] = "sometime"
    invoices[1]["Contact"] = {"Name": "no id"}
    invoices[2]["CurrencyCode"] = "dollars"
    summary = ingest(runner, write(tmp_path / "bad.json", {"Invoices": invoices}))
    assert counts(summary) == (0, 0, 0, 3, 0)
    reasons = sorted(r.reason for r in session.scalars(select(InboxRecord)))
    assert reasons[0].startswith("Contact.ContactID is required")
    assert reasons[1].startswith("CurrencyCode 'dollars' is not a three-letter")
    assert reasons[2].startswith("Date 'sometime' is neither")


def test_a_webhook_event_is_kept_as_a_notification_that_needs_fetching(runner, session):
    summary = ingest(runner, WEBHOOK)
    assert counts(summary) == (0, 0, 1, 0, 0)
    kept = session.scalars(select(InboxRecord)).one()
    assert kept.reason.startswith("needs fetching: xero creditnote 55d84274")
    assert kept.locator == "events[0]"


REPEATING = VENDORS / "xero_openapi_get_repeatinginvoices.json"


def test_repeating_invoices_wait_for_their_contact_each_version_apart(runner, session, tmp_path):
    answer = json.loads(REPEATING.read_text())
    edited = copy.deepcopy(answer)
    template = edited["RepeatingInvoices"][0]
    template["Schedule"]["StartDate"] = "/Date(1557964800000+0000)/"  # edited: from 2019-05-16
    template["SubTotal"] = "6000.00"
    bill = copy.deepcopy(answer["RepeatingInvoices"][0])
    edited["RepeatingInvoices"].append(bill | {"Type": "ACCPAY", "RepeatingInvoiceID": "bill-1"})
    later = tmp_path / "edited.json"
    later.write_text(json.dumps(edited))
    assert counts(ingest(runner, REPEATING)) == (0, 0, 0, 0, 1)
    # the edited version waits beside the first; a repeating bill is the provider's own
    assert counts(ingest(runner, later)) == (0, 0, 1, 0, 1)
    make_client("liam")
    result = runner.invoke(args=["identities", "map", "xero", LIAM, "liam"])
    assert "2 accepted" in result.output, result.output
    versions = session.execute(
        select(Event.external_id, Event.amount)
        .where(Event.thread_type == "subscription")
        .order_by(Event.occurred_at)
    ).all()
    key = "recurring-428c0d75-909f-4b04-8403-a48dc27283b0"
    assert versions == [
        (f"{key}@2019-04-15", Decimal("5000.00")),
        (f"{key}@2019-05-16", Decimal("6000.00")),
    ]
    assert counts(ingest(runner, REPEATING)) == (0, 1, 0, 0, 0)
