"""The quickbooks connector, against data built to the documented shape of
Intuit's API reference samples and Intuit's own webhook test payloads."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from crm import flags
from crm.models import Entity, Event, Identity, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
QUERY = VENDORS / "quickbooks_query_invoices_DOCUMENTED_SHAPE.json"
OLD_INVOICE = VENDORS / "quickbooks_invoice_2015_no_currency_DOCUMENTED_SHAPE.json"
ENTITIES = VENDORS / "quickbooks_customer_payment_creditmemo_DOCUMENTED_SHAPE.json"
CDC = VENDORS / "quickbooks_cdc_response_DOCUMENTED_SHAPE.json"
CLOUDEVENTS = VENDORS / "intuit_webhooks_cloudevents.json"
LEGACY = json.loads((VENDORS / "intuit_webhooks_signature_vector.json").read_text())["payload"]
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def ingest(runner, path) -> dict:
    return ingest_file(runner, "quickbooks", path)


def counts(summary: dict) -> tuple:
    return tuple(summary[name] for name in COUNTS)


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_invoice_states_and_the_overdue_rule(runner, session):
    make_client("paulsen", identities=[("quickbooks", "15")])
    assert counts(ingest(runner, QUERY)) == (3, 0, 0, 0, 0)
    states = {row.key: (row.status, row.opened_at, row.closed_at, row.due_at, row.amount)
              for row in session.scalars(select(Entity))}  # fmt: skip
    assert states == {
        "invoice-130": ("open", at(2014, 9, 19), None, at(2014, 10, 19), Decimal("362.07")),
        "invoice-129": ("paid", at(2014, 9, 18), at(2014, 9, 25, 17, 20, 14), at(2014, 10, 18),
                        Decimal("150.0")),
        "invoice-128": ("void", at(2014, 9, 17), at(2014, 9, 22, 16, 41, 5), at(2014, 10, 17),
                        Decimal("0")),
    }  # fmt: skip
    overdue = session.scalars(
        select(Entity.key).where(flags.kind_sql("overdue_invoice", at(2014, 11, 1)))
    ).all()
    assert overdue == ["invoice-130"]
    paid = session.scalar(select(Event.attributes).where(Event.external_id == "invoice-129:paid"))
    assert paid["inferred"] == {"paid_at": "MetaData.LastUpdatedTime"}


def test_reingest_and_a_change_data_capture_add_only_new_steps(runner, session):
    make_client("paulsen", identities=[("quickbooks", "15")])
    ingest(runner, QUERY)
    before = entity_states(session)
    assert counts(ingest(runner, QUERY)) == (0, 3, 0, 0, 0)
    assert entity_states(session) == before
    # CDC: the customer again, invoice 130 now paid, invoice 127 deleted.
    summary = ingest(runner, CDC)
    assert counts(summary) == (1, 1, 1, 0, 0)  # the customer is known already
    entity = session.scalars(select(Entity).where(Entity.key == "invoice-130")).one()
    assert (entity.status, entity.closed_at) == ("paid", at(2014, 10, 2, 15))


def test_customers_payments_and_credit_memos(runner, session):
    paulsen = make_client("paulsen", emails=["medical@intuit.com"])
    # The payment and credit memo wait for the customer, whose record (read
    # in the same file) teaches its id and replays them.
    assert counts(ingest(runner, ENTITIES)) == (1, 0, 0, 0, 2)
    known = select(Identity.client_id).where(
        Identity.system == "quickbooks", Identity.external_key == "15"
    )
    assert session.scalars(known).one() == paulsen.id
    rows = session.execute(
        select(Event.external_id, Event.kind, Event.amount, Event.currency, Event.thread_key)
        .order_by(Event.external_id)
    ).all()  # fmt: skip
    assert rows == [
        ("creditmemo-73", "refund.issued", None, None, None),
        ("payment-131", "payment.received", Decimal("150.0"), "USD", None),
    ]
    assert ingest(runner, ENTITIES)["duplicate"] == 3


def test_an_older_answer_without_currency_keeps_its_total_aside(runner, session):
    make_client("amy", identities=[("quickbooks", "1")])
    assert counts(ingest(runner, OLD_INVOICE)) == (1, 0, 0, 0, 0)
    issued = session.scalars(select(Event)).one()
    assert (issued.amount, issued.currency, issued.attributes["total"]) == (None, None, "150.0")
    assert issued.title == "Invoice 1070 issued: 150.0"


def test_entities_wait_for_their_customer_then_replay(runner, session):
    assert counts(ingest(runner, QUERY)) == (0, 0, 0, 0, 3)
    make_client("paulsen")
    result = runner.invoke(args=["identities", "map", "quickbooks", "15", "paulsen"])
    assert "3 accepted" in result.output, result.output
    assert len(session.scalars(select(Entity)).all()) == 3


def test_webhooks_in_both_formats_are_kept_as_notifications_to_fetch(runner, session, tmp_path):
    legacy = tmp_path / "legacy.json"
    legacy.write_text(LEGACY)
    assert counts(ingest(runner, legacy)) == (0, 0, 1, 0, 0)
    assert counts(ingest(runner, CLOUDEVENTS)) == (0, 0, 1, 0, 0)
    reasons = sorted(r.reason for r in session.scalars(select(InboxRecord)))
    assert reasons[0].startswith(
        "needs fetching: quickbooks Customer 1 "
        "(Create at 2015-10-05T14:42:19-0700, realm 1185883450)"
    )
    assert reasons[1].startswith("needs fetching: quickbooks qbo.class.created.v1 1234")


def test_bad_fields_reject_their_record_by_name(runner, session, tmp_path):
    make_client("paulsen", identities=[("quickbooks", "15")])
    document = json.loads(QUERY.read_text())
    invoices = document["QueryResponse"]["Invoice"]
    invoices[0]["TxnDate"] = "19/09/2014"
    invoices[1]["TotalAmt"] = "lots"
    del invoices[2]["CustomerRef"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    assert counts(ingest(runner, path)) == (0, 0, 0, 3, 0)
    reasons = sorted(r.reason for r in session.scalars(select(InboxRecord)))
    assert [reason.split(" ")[0] for reason in reasons] == [
        "Invoice.CustomerRef.value", "Invoice.TotalAmt", "Invoice.TxnDate",
    ]  # fmt: skip


RECURRING = VENDORS / "quickbooks_recurring_transactions_DOCUMENTED_SHAPE.json"


def test_recurring_templates_wait_for_their_customer_and_end_after_so_many(
    runner, session, tmp_path
):
    # The five sales templates wait for their customers; the recurring bill is skipped.
    assert counts(ingest(runner, RECURRING)) == (0, 0, 1, 0, 5)
    make_client("paulsen")
    result = runner.invoke(args=["identities", "map", "quickbooks", "15", "paulsen"])
    assert "2 accepted" in result.output, result.output
    threads = set(session.execute(select(Event.thread_type, Event.thread_key)).all())
    assert threads == {("subscription", "recurring-201"), ("subscription", "recurring-202")}
    # Templates that end after so many invoices (MaxOccurrences) rather than on a date.
    found = json.loads(RECURRING.read_text())["QueryResponse"]["RecurringTransaction"]
    monthly, fortnightly = found[0]["Invoice"], found[1]["Invoice"]

    def ending(template: dict, template_id: str, count: int) -> dict:
        info = template["RecurringInfo"]
        schedule = info["ScheduleInfo"] | {"MaxOccurrences": count}
        return {
            "Invoice": template
            | {"Id": template_id, "RecurringInfo": info | {"ScheduleInfo": schedule}}
        }

    path = tmp_path / "ending.json"
    path.write_text(json.dumps({"QueryResponse": {"RecurringTransaction": [
        ending(monthly, "301", 6), ending(fortnightly, "302", 3)
    ]}}))  # fmt: skip
    assert counts(ingest(runner, path)) == (2, 0, 0, 0, 0)
    until = dict(
        session.execute(
            select(Event.thread_key, Event.attributes["recurring_until"].as_string()).where(
                Event.thread_key.in_(["recurring-301", "recurring-302"])
            )
        ).all()
    )
    # monthly from 2026-01-01: the sixth on 2026-06-01; fortnightly from 01-02: the third on 01-30
    assert until == {"recurring-301": "2026-06-01", "recurring-302": "2026-01-30"}
