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

from connectors.accounting import Reader, money_text, needs_fetch, parse_iso_time, unwrapped
from connectors.base import CanonicalEvent, Connector, IdentityClaim, Skip
from connectors.readers import Record, format_of, read_records
from connectors.recurring_templates import Template, template_events
from connectors.registry import register
from crm.identities import ClientHints

ORIGIN = "xero"
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
NOT_ISSUED = ("DRAFT", "SUBMITTED", "DELETED")
# Payment types that are money the client paid, and money paid back to it.
RECEIVED = ("ACCRECPAYMENT",)
PAID_BACK = ("ARCREDITPAYMENT", "AROVERPAYMENTPAYMENT", "ARPREPAYMENTPAYMENT")
APP = "https://go.xero.com/"


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
class XeroConnector(Connector):
    name = "xero"
    source = "billing"
    natural_key = ("InvoiceID",)
    schema = NotificationSchema
    webhook_empty_answer = True

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """Records as usual, with the items of a response or webhook taken out."""
        return unwrapped(read_records(content, format_of(filename, self.default_format)), _lists)

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


def contact(f: Reader) -> IdentityClaim:
    contact_id = f.text("ContactID", required=True)
    account = f.text("AccountNumber")
    identities = (("xero", contact_id),) + ((("account", account),) if account else ())
    return IdentityClaim(
        hints=ClientHints(identities=identities, emails=_emails(f)),
        aliases=(("xero", contact_id),),
    )


def _emails(f: Reader) -> tuple[str, ...]:
    emails = [f.text("EmailAddress")]
    emails += [person.text("EmailAddress") for _, person in f.items("ContactPersons")]
    return tuple(email for email in emails if email and "@" in email)


def _hints(f: Reader) -> ClientHints:
    """The contact an invoice, a credit note or a payment's invoice names."""
    contact = f.part("Contact")
    return ClientHints(
        identities=(("xero", contact.text("ContactID", required=True)),), emails=_emails(contact)
    )


def _event(kind, external_id, at, hints, title, **fields) -> CanonicalEvent:
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=hints,
        title=title[:500],
        **fields,
    )


# The type of invoice and credit note that is a client's, and why.
CLIENTS_TYPE = {
    "invoice": ("ACCREC", "sales invoices; ACCPAY bills are the provider's own"),
    "credit note": ("ACCRECCREDIT", "credit given to a client"),
}


def _issued(f: Reader, what: str, id_field: str, unissued: tuple) -> tuple[str, str]:
    """The id and status of an invoice or credit note issued to a client;
    Skip for the provider's own documents and those never issued."""
    key = f.text(id_field, required=True)
    kind, status = f.text("Type"), f.text("Status", required=True).upper()
    wanted, why = CLIENTS_TYPE[what]
    if kind != wanted:
        raise Skip(f"xero {what} {key} is {kind or 'untyped'}: only {wanted} ({why}) is a client's")
    if status in unissued:
        raise Skip(f"xero {what} {key} is {status}: not issued to the client")
    return key, status


def invoice(f: Reader) -> list[CanonicalEvent]:
    invoice_id, status = _issued(f, "invoice", "InvoiceID", NOT_ISSUED)
    number = f.text("InvoiceNumber") or invoice_id
    currency = f.currency("CurrencyCode", required=True)
    total = f.money("Total", required=True)
    hints = _hints(f)
    url = f"{APP}AccountsReceivable/View.aspx?InvoiceID={invoice_id}"
    shared = {"hints": hints, "thread_key": invoice_id, "url": url}
    attributes = {
        "xero_id": invoice_id,
        "number": number,
        "xero_status": status,
        "reference": f.text("Reference"),
        "amount_due": str(f.money("AmountDue")) if f.raw("AmountDue") is not None else None,
        "amount_credited": _text(f.money("AmountCredited")),
    }
    attributes = {name: value for name, value in attributes.items() if value is not None}
    issued = _event(
        "invoice.issued",
        f"{invoice_id}:issued",
        f.time("Date", required=True),
        title=f"Invoice {number} issued: {money_text(total, currency)}",
        amount=total,
        currency=currency,
        due_at=f.time("DueDate"),
        attributes=attributes,
        **shared,
    )
    events = [issued]
    if status == "PAID":
        paid_at, inferred = _paid_at(f)
        events.append(
            _event(
                "payment.received",
                f"{invoice_id}:paid",
                paid_at,
                title=f"Invoice {number} paid in full",
                attributes=attributes | inferred,
                **shared,
            )
        )
    elif status == "VOIDED":
        events.append(
            _event(
                "invoice.voided",
                f"{invoice_id}:void",
                f.time("UpdatedDateUTC") or issued.occurred_at,
                title=f"Invoice {number} voided: {money_text(total, currency)}",
                attributes=attributes,
                **shared,
            )
        )
    events += [payment(p, "ACCRECPAYMENT", f) for _, p in f.items("Payments")]
    return events


def _paid_at(f: Reader) -> tuple[datetime, dict]:
    """When the invoice was paid in full: `FullyPaidOnDate`, else its
    latest payment's date, else when it was last updated (noted)."""
    at = f.time("FullyPaidOnDate")
    if at is not None:
        return at, {}
    dates = [p.time("Date") for _, p in f.items("Payments")]
    dates = [date for date in dates if date is not None]
    if dates:
        return max(dates), {"inferred": {"FullyPaidOnDate": "Payments[].Date"}}
    return f.time("UpdatedDateUTC", required=True), {
        "inferred": {"FullyPaidOnDate": "UpdatedDateUTC"}
    }


def _text(value) -> str | None:
    return None if value is None else str(value)


def _day(at: datetime | None) -> str | None:
    return None if at is None else at.date().isoformat()


def payment(f: Reader, payment_type: str, of: Reader) -> CanonicalEvent:
    """A payment, read from `/Payments` (`of` is its `Invoice`) or from an
    invoice's or credit note's `Payments` (`of` is that object)."""
    payment_id = f.text("PaymentID", required=True)
    if payment_type not in RECEIVED + PAID_BACK:
        raise Skip(f"xero payment {payment_id} is {payment_type}: not a client's money")
    if (f.text("Status") or "").upper() == "DELETED":
        raise Skip(f"xero payment {payment_id} was deleted")
    document = of.text("InvoiceNumber") or of.text("CreditNoteNumber")
    document = document or of.text("InvoiceID") or of.text("CreditNoteID")
    currency = of.currency("CurrencyCode", required=True)
    amount = f.money("Amount", required=True)
    refund = payment_type in PAID_BACK
    word = "Refund paid" if refund else "Payment received"
    return _event(
        "refund.issued" if refund else "payment.received",
        payment_id,
        f.time("Date", required=True),
        _hints(of),
        f"{word} for {document}: {money_text(amount, currency)}",
        amount=amount,
        currency=currency,
        attributes={
            "xero_id": payment_id,
            "payment_type": payment_type,
            "document": document,
            "invoice_id": of.text("InvoiceID") or of.text("CreditNoteID"),
            "reference": f.text("Reference"),
        },
    )


def credit_note(f: Reader) -> list[CanonicalEvent]:
    note_id, status = _issued(f, "credit note", "CreditNoteID", (*NOT_ISSUED, "VOIDED"))
    number = f.text("CreditNoteNumber") or note_id
    currency = f.currency("CurrencyCode", required=True)
    total = f.money("Total", required=True)
    allocations = [a.part("Invoice").text("InvoiceID") for _, a in f.items("Allocations")]
    note = _event(
        "refund.issued",
        f"{note_id}:credited",
        f.time("Date", required=True),
        _hints(f),
        f"Credit note {number}: {money_text(total, currency)}",
        url=f"{APP}AccountsReceivable/ViewCreditNote.aspx?creditNoteID={note_id}",
        attributes={
            "xero_id": note_id,
            "number": number,
            "xero_status": status,
            "total": str(total),
            "credit_currency": currency,
            "remaining_credit": _text(f.money("RemainingCredit")),
            "allocated_to": [key for key in allocations if key] or None,
        },
    )
    note.attributes = {name: value for name, value in note.attributes.items() if value is not None}
    return [note] + [payment(p, "ARCREDITPAYMENT", f) for _, p in f.items("Payments")]


def repeating_invoice(f: Reader) -> list[CanonicalEvent]:
    """A repeating invoice (a sales one, ACCREC) as recurring revenue
    (connectors.recurring_templates): `SubTotal` (before tax) every
    `Schedule.Period` `Schedule.Unit`s, from `Schedule.StartDate`, which Xero
    moves to each edited version's start (so each version is an event of its
    own), until `Schedule.EndDate`. A draft raises no invoices (skipped, as
    draft invoices are); a deleted one ends when the answer that said so was
    made (its `DateTimeUTC`), else at its start."""
    template_id = f.text("RepeatingInvoiceID", required=True)
    kind, status = f.text("Type"), f.text("Status", required=True).upper()
    if kind != "ACCREC":
        raise Skip(f"xero repeating invoice {template_id} is {kind or 'untyped'}: not a sale")
    if status == "DRAFT":
        raise Skip(f"xero repeating invoice {template_id} is a DRAFT: it raises no invoices")
    schedule = f.part("Schedule")
    started = schedule.time("StartDate", required=True)
    every = schedule.raw("Period")  # a whole number (as text too); else no monthly amount
    every = int(every) if isinstance(every, str) and every.isdigit() else every
    amount = f.money("SubTotal")
    deleted = (f.time("DateTimeUTC") or started) if status == "DELETED" else None
    return template_events(
        Template(
            origin=ORIGIN,
            key=f"recurring-{template_id}",
            name=f.text("Reference") or template_id,
            hints=_hints(f),
            started=started,
            amount=f.money("Total", required=True) if amount is None else amount,
            currency=f.currency("CurrencyCode", required=True),
            interval=schedule.text("Unit"),
            every=1 if every is None else every,
            status="deleted" if deleted else "active",
            until=schedule.time("EndDate"),
            deleted=deleted,
            started_key=f"@{started.date().isoformat()}",
            extra={
                "xero_id": template_id,
                "xero_status": status,
                "next_date": _day(schedule.time("NextScheduledDate")),
                "amount_basis": "SubTotal" if amount is not None else "Total",
            },
        )
    )
