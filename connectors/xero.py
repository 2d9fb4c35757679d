"""The `xero` connector (billing): Xero Accounting API responses and webhooks.

Input: a response of `GET /Contacts`, `/Invoices`, `/Payments`,
`/CreditNotes` or `/RepeatingInvoices` (`{"Invoices": [...], ...}`, one
record per item; a repeating invoice is recurring revenue), the
objects themselves (one, or a JSON array), or a webhook body
(`{"events": [...], "entropy": ...}`). Objects name no type, so the id they
carry says what each is: `InvoiceID`, `CreditNoteID`, `PaymentID`, else
`ContactID`. Times are read in both shapes Xero gives them: the API's
Microsoft JSON dates (`/Date(1573755038314+0000)/`: milliseconds since 1970
in UTC; the offset only says the zone the time was entered in) and ISO 8601
(`2019-11-14T00:00:00`, as the SDKs' models and the webhooks write them;
without a zone it is UTC).

An invoice tells the steps its status shows, each keyed by the invoice and
the step, so an invoice read again in a later state adds only its new
steps: issued (`Date`, due `DueDate`), paid in full (`FullyPaidOnDate`) or
voided (`UpdatedDateUTC`). Only sales invoices (`ACCREC`) are the client's;
drafts, submitted and deleted invoices were never issued. The money
collected is in the payments (each keyed by its `PaymentID`, whether read
from `/Payments` or from an invoice's `Payments`), not in the paid step, so
reading both counts it once; a payment is on the timeline, not the invoice's
thread, since any payment there would close the thread even when partial.
A credit note is shown when authorised, without an amount (it lowers what
is owed; money goes back only through its cash refunds, `ARCREDITPAYMENT`
payments, which are refunds with amounts).

Client: `Contact.ContactID` (identity system `xero`), the contact's email.
A contact record registers its `ContactID` for the client its ContactID,
`AccountNumber` (system `account`, as a clients import registers account
codes) or email names. Webhook events name only an id: each is kept as a
notification that needs fetching (connectors.accounting).
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from marshmallow import INCLUDE, Schema, fields

from connectors.accounting import AnswerConnector, Reader, needs_fetch, parse_iso_time
from connectors.base import Skip
from connectors.registry import register
from connectors.xero_records import contact, credit_note, invoice, payment, repeating_invoice

LISTS = ("Invoices", "Contacts", "Payments", "CreditNotes", "RepeatingInvoices")
# The id field that says what an object is, most specific first (an invoice
# raised from a repeating invoice names its RepeatingInvoiceID too).
TYPES = (
    ("InvoiceID", "invoice"),
    ("RepeatingInvoiceID", "repeating invoice"),
    ("CreditNoteID", "credit note"),
    ("PaymentID", "payment"),
    ("ContactID", "contact"),
)
MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def parse_time(text: str) -> datetime:
    """A Microsoft JSON date or an ISO 8601 time, as an aware UTC time."""
    match = MS_DATE.fullmatch(text)
    if match:
        return datetime.fromtimestamp(int(match[1]) / 1000, UTC)
    try:
        return parse_iso_time(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a Microsoft JSON date (/Date(ms+0000)/) nor ISO 8601"
        ) from None


class NotificationSchema(Schema):
    """One event of a Xero webhook body."""

    class Meta:
        unknown = INCLUDE

    resource_id = fields.String(required=True, data_key="resourceId")
    category = fields.String(required=True, data_key="eventCategory")
    type = fields.String(required=True, data_key="eventType")
    at = fields.String(required=True, data_key="eventDateUtc")
    url = fields.String(load_default=None, allow_none=True, data_key="resourceUrl")


def type_of(data: dict) -> str | None:
    for field, name in TYPES:
        if field in data:
            return name
    return None


def _lists(data: dict) -> Iterator[tuple[str, object]]:
    """The items of a list answer; a repeating invoice carries the answer's
    `DateTimeUTC` with it, the only time Xero gives of when it was so."""
    read_at = data.get("DateTimeUTC")
    for name in (*LISTS, "events"):
        items = data.get(name)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if name == "RepeatingInvoices" and isinstance(item, dict) and read_at:
                    item = {"DateTimeUTC": read_at} | item
                yield f"{name}[{index}]", item


@register
class XeroConnector(AnswerConnector):
    name = "xero"
    natural_key = ("InvoiceID",)
    schema = NotificationSchema
    webhook_empty_answer = True

    lists = staticmethod(_lists)

    def webhook_handshake(self, body: bytes) -> bool:
        """Xero's intent-to-receive: a signed body with no events, which
        must be answered 200 (401 when the signature is wrong)."""
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("events") == []

    def schema_applies(self, data: dict) -> bool:
        """The schema is the webhook event's; objects are read in `convert`,
        as is a list answer with no items (a sync's page of no changes)."""
        return type_of(data) is None and not set(LISTS) & data.keys()

    def key_of(self, data: dict) -> str:
        """The object's id and state, so a later state of an object that
        waits unmatched is not taken for the one already waiting."""
        for field, _ in TYPES:
            if field in data:
                schedule = data.get("Schedule") if isinstance(data.get("Schedule"), dict) else {}
                start = f"@{schedule['StartDate']}" if schedule.get("StartDate") else ""
                return f"{data.get(field)}:{data.get('Status', '')}{start}"[:200]
        return f"{data.get('resourceId', '')}@{data.get('eventDateUtc', '')}"

    def convert(self, data: dict) -> list:
        kind = type_of(data)
        if kind is None and set(LISTS) & data.keys():
            raise Skip("the answer holds no items")
        if kind is None:
            raise needs_fetch(
                f"xero {data['category'].lower()} {data['resource_id']} "
                f"({data['type']} at {data['at']}, {data['url']})"
            )
        f = Reader(data, parse_time)
        if kind == "contact":
            return [contact(f)]
        if kind == "invoice":
            return invoice(f)
        if kind == "credit note":
            return credit_note(f)
        if kind == "repeating invoice":
            return repeating_invoice(f)
        return [payment(f, f.text("PaymentType") or "ACCRECPAYMENT", f.part("Invoice"))]
