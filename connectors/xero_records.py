"""What each Xero object means for Touchline (connectors.xero, whose
docstring tells the rules): a contact's identities, an invoice's steps, a
payment or refund, a credit note, a repeating invoice's recurring revenue."""

from datetime import datetime

from connectors.accounting import Reader, money_text
from connectors.base import CanonicalEvent, IdentityClaim, Skip
from connectors.recurring_templates import Template, template_events
from crm.identities import ClientHints

ORIGIN = "xero"
NOT_ISSUED = ("DRAFT", "SUBMITTED", "DELETED")
# Payment types that are money the client paid, and money paid back to it.
RECEIVED = ("ACCRECPAYMENT",)
PAID_BACK = ("ARCREDITPAYMENT", "AROVERPAYMENTPAYMENT", "ARPREPAYMENTPAYMENT")
APP = "https://go.xero.com/"


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
