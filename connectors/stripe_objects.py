"""Stripe objects as timeline events: one builder per object.

connectors.stripe decides *which* events a record means; these know how to
read an invoice, a charge, a refund, a dispute or a subscription (through
connectors.stripe_fields) and phrase it for the timeline.
"""

from datetime import datetime
from decimal import Decimal

from connectors.base import CanonicalEvent
from connectors.stripe_fields import (
    CURRENCY,
    ORIGIN,
    Fields,
    Origin,
    attributes,
    exponent,
    hints,
    money_text,
    url,
)
from crm.identities import ClientHints

# Dispute statuses after which Stripe will not change the outcome.
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed", "charge_refunded", "prevented"})


# --- invoices ---------------------------------------------------------------

INVOICE_WORDS = {
    "invoice.issued": ("finalized", "amount_due"),
    "payment.received": ("paid", "amount_paid"),
    "payment.failed": ("payment failed", "amount_remaining"),
    "invoice.voided": ("voided", "amount_due"),
}


def invoice(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime):
    invoice_id = f.text("id", required=True)
    word, amount_field = INVOICE_WORDS[kind]
    currency = f.currency()
    # An invoice.payment_failed of an older API has no amount_remaining.
    amount = f.money(amount_field, required=False)
    if amount is None:
        amount = f.money("amount_due")
    name = f.text("number") or invoice_id
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=hints(f.text("customer"), emails=(f.text("customer_email"),)),
        title=f"Invoice {name} {word}: {money_text(amount, currency)}",
        detail=f.text("description"),
        amount=amount,
        currency=currency,
        thread_key=invoice_id,
        url=url(origin, f"invoices/{invoice_id}"),
        attributes=attributes(
            origin,
            invoice_id,
            number=f.text("number"),
            stripe_status=f.text("status"),
            subscription=f.text("subscription"),
            billing_reason=f.text("billing_reason"),
            hosted_invoice_url=f.text("hosted_invoice_url"),
            attempt_count=f.data.get("attempt_count") if kind == "payment.failed" else None,
        ),
        due_at=f.time("due_date") if kind == "invoice.issued" else None,
    )


# --- charges and refunds ----------------------------------------------------

CHARGE_WORDS = {
    "payment.received": ("succeeded", "amount"),
    "payment.failed": ("failed", "amount"),
    "refund.issued": ("refunded", "amount_refunded"),
}


def charge(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime):
    """Every charge teaches the pipeline its id (`stripe_charge`), which is
    how a dispute, naming only the charge, finds its client."""
    charge_id = f.text("id", required=True)
    word, amount_field = CHARGE_WORDS[kind]
    currency = f.currency()
    amount = f.money(amount_field)
    billing = f.part("billing_details")
    failure = f.text("failure_code") if kind == "payment.failed" else None
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=hints(
            f.text("customer"),
            ("stripe_charge", charge_id),
            emails=(billing.text("email"), f.text("receipt_email")),
        ),
        title=f"Charge {charge_id} {word}: {money_text(amount, currency)}"
        + (f" ({failure})" if failure else ""),
        detail=(f.text("failure_message") if kind == "payment.failed" else None)
        or f.text("description"),
        amount=amount,
        currency=currency,
        thread_key=f.text("invoice") or charge_id,
        url=url(origin, f"payments/{charge_id}"),
        attributes=attributes(
            origin,
            charge_id,
            invoice=f.text("invoice"),
            payment_intent=f.text("payment_intent"),
            stripe_status=f.text("status"),
            failure_code=failure,
            refunded=f.data.get("refunded") if kind == "refund.issued" else None,
            charge_amount=str(f.money("amount")) if kind == "refund.issued" else None,
        ),
        aliases=(("stripe_charge", charge_id),),
    )


def refund(f: Fields, origin: Origin, external_id: str, at: datetime):
    """A refund object names its charge: resolved and threaded through it."""
    refund_id = f.text("id", required=True)
    charge_id = f.text("charge", required=True)
    currency = f.currency()
    amount = f.money("amount")
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind="refund.issued",
        occurred_at=at,
        hints=hints(f.text("customer"), ("stripe_charge", charge_id)),
        title=f"Refund {refund_id} of charge {charge_id}: {money_text(amount, currency)}",
        amount=amount,
        currency=currency,
        thread_key=charge_id,
        url=url(origin, f"payments/{charge_id}"),
        attributes=attributes(
            origin, refund_id, charge=charge_id, reason=f.text("reason"), stripe_status="succeeded"
        ),
    )


# --- disputes ---------------------------------------------------------------


def dispute_fields(f: Fields) -> Fields:
    """The dispute itself; the oldest `charge.disputed` events carry the
    charge, with the dispute inside it and no dispute id."""
    if f.data.get("object") != "charge" or not isinstance(f.data.get("dispute"), dict):
        return f
    inner = dict(f.data["dispute"])
    for name in ("customer", "currency"):
        inner.setdefault(name, f.data.get(name))
    inner.setdefault("charge", f.data.get("id"))
    return Fields(inner, f"{f.prefix}dispute.")


def dispute_closed(f: Fields) -> bool:
    return dispute_fields(f).text("status") in DISPUTE_CLOSED


def dispute(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime):
    f = dispute_fields(f)
    charge_id = f.text("charge", required=True)
    dispute_id = f.text("id") or charge_id
    currency = f.currency()
    amount = f.money("amount")
    reason = f.text("reason")
    stripe_status = f.text("status")
    # The Stripe status refines the thread's; a dispute closed some other way
    # than won or lost (warning_closed, ...) is "closed", which ends it too.
    status = stripe_status
    if kind == "dispute.closed" and stripe_status not in ("won", "lost"):
        status = "closed"
    # Current API: evidence_details.due_by; before 2014: evidence_due_by.
    due_by = f.part("evidence_details").time("due_by") or f.time("evidence_due_by")
    word = "opened" if kind == "dispute.opened" else f"closed ({stripe_status or 'closed'})"
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=ClientHints(
            identities=(("stripe_charge", charge_id),)
            + (((ORIGIN, f.text("customer")),) if f.text("customer") else ())
        ),
        title=f"Dispute {dispute_id} {word} on charge {charge_id}: "
        f"{money_text(amount, currency)}" + (f" ({reason})" if reason else ""),
        amount=amount,
        currency=currency,
        thread_key=dispute_id,
        url=url(origin, f"disputes/{dispute_id}" if f.text("id") else f"payments/{charge_id}"),
        attributes=attributes(
            origin,
            dispute_id,
            charge=charge_id,
            reason=reason,
            stripe_status=stripe_status,
            evidence_due_by=due_by.isoformat() if due_by else None,
        ),
        status=status,
        due_at=due_by if kind == "dispute.opened" else None,
        category=reason,
    )


# --- subscriptions ----------------------------------------------------------


def subscription(kind: str, f: Fields, origin: Origin, external_id: str, at, changed=None):
    subscription_id = f.text("id", required=True)
    currency, amount = _subscription_amount(f)
    stripe_status = f.text("status")
    word = kind.rpartition(".")[2]
    price = f" {money_text(amount, currency)}" if currency else ""
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=hints(f.text("customer")),
        title=f"Subscription {subscription_id} {word}:{price} ({stripe_status or 'no status'})",
        detail=f.text("description"),
        amount=amount,
        currency=currency,
        thread_key=subscription_id,
        url=url(origin, f"subscriptions/{subscription_id}"),
        attributes=attributes(
            origin,
            subscription_id,
            stripe_status=stripe_status,
            cancel_at_period_end=f.data.get("cancel_at_period_end"),
            changed=sorted(changed) if changed else None,
        ),
    )


def _subscription_amount(f: Fields) -> tuple[str | None, Decimal | None]:
    """What the subscription bills per period: the sum of its items' prices
    (an older API has one `plan` and `quantity`); none when any is unknown."""
    items = f.part("items").data.get("data")
    if isinstance(items, list) and items:
        lines = [
            ((item.get("price") or item.get("plan") or {}), item.get("quantity", 1))
            for item in items
            if isinstance(item, dict)
        ]
    elif isinstance(f.data.get("plan"), dict):
        lines = [(f.data["plan"], f.data.get("quantity", 1))]
    else:
        return None, None
    currency = f.data.get("currency") or (lines[0][0].get("currency") if lines else None)
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        return None, None
    currency = currency.upper()
    total = 0
    for price, quantity in lines:
        unit = price.get("unit_amount", price.get("amount"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (unit, quantity)):
            return None, None
        total += unit * quantity
    return currency, Decimal(total).scaleb(-exponent(currency))
