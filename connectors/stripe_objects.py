"""Stripe objects as timeline events: one builder per object.

connectors.stripe_lifecycle decides *which* events a record means; these
know how to read an invoice, a charge, a refund, a dispute, a subscription
or an invoice payment (through connectors.stripe_fields, which knows their
older shapes) and phrase it for the timeline. Each names its client by the
customer and by the other objects it names (its charge, invoice, payment
intent), and teaches those for the client it is placed with.
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
    secondary,
    url,
)
from connectors.stripe_recurring import list_monthly, monthly_amount, unknown_discounts

# Dispute statuses after which Stripe will not change the outcome.
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed", "charge_refunded", "prevented"})


def _event(kind: str, external_id: str, at: datetime, **fields) -> CanonicalEvent:
    return CanonicalEvent(
        origin=ORIGIN, external_id=external_id, kind=kind, occurred_at=at, **fields
    )


# --- invoices ---------------------------------------------------------------

INVOICE_WORDS = {
    "invoice.issued": ("finalized", "amount_due"),
    "payment.received": ("paid", "amount_paid"),
    "payment.failed": ("payment failed", "amount_remaining"),
    "invoice.voided": ("voided", "amount_due"),
}


def invoice(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime, **_):
    invoice_id = f.text("id", required=True)
    word, amount_field = INVOICE_WORDS[kind]
    currency = f.currency()
    amount = f.money(amount_field)
    name = f.text("number") or invoice_id
    # It names its client by its customer, and teaches its own id with the
    # others, for the payments that name only the invoice.
    others = secondary(charge=f.text("charge"), payment_intent=f.text("payment_intent"))
    due_at = f.time("due_date") if kind == "invoice.issued" else None
    subscription = f.text("subscription")
    return _event(
        kind,
        external_id,
        at,
        hints=hints(f.text("customer"), others, emails=(f.text("customer_email"),)),
        title=f"Invoice {name} {word}: {money_text(amount, currency)}",
        detail=f.text("description"),
        amount=amount,
        currency=currency,
        thread_key=invoice_id,
        url=url(origin, f"invoices/{invoice_id}"),
        due_at=due_at,
        aliases=secondary(invoice=invoice_id) + others,
        attributes=attributes(
            origin,
            f,
            invoice_id,
            number=f.text("number"),
            stripe_status=f.text("status"),
            subscription=subscription,
            billing_reason=f.text("billing_reason"),
            hosted_invoice_url=f.text("hosted_invoice_url"),
            attempt_count=f.raw("attempt_count") if kind == "payment.failed" else None,
        ),
    )


def invoice_payment(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime, **_):
    """An invoice payment (API 2025-03-31 on) names its invoice, not the
    customer: it finds its client through the invoice."""
    payment_id = f.text("id", required=True)
    invoice_id = f.text("invoice", required=True)
    currency = f.currency()
    amount = f.money("amount_paid")
    payment = f.part("payment")
    others = secondary(
        invoice=invoice_id,
        charge=payment.text("charge"),
        payment_intent=payment.text("payment_intent"),
    )
    return _event(
        kind,
        external_id,
        at,
        hints=hints(f.text("invoice.customer"), others),
        title=f"Invoice {invoice_id} paid: {money_text(amount, currency)} (payment {payment_id})",
        amount=amount,
        currency=currency,
        thread_key=invoice_id,
        url=url(origin, f"invoices/{invoice_id}"),
        aliases=others,
        attributes=attributes(
            origin,
            f,
            payment_id,
            invoice=invoice_id,
            stripe_status=f.text("status"),
            payment_type=payment.text("type"),
        ),
    )


# --- charges and refunds ----------------------------------------------------

CHARGE_WORDS = {
    "payment.received": ("succeeded", "amount"),
    "payment.failed": ("failed", "amount"),
    "refund.issued": ("refunded", "amount_refunded"),
}


def charge(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime, **_):
    """A charge on an invoice joins the invoice's thread."""
    charge_id = f.text("id", required=True)
    word, amount_field = CHARGE_WORDS[kind]
    currency = f.currency()
    amount = f.money(amount_field)
    billing = f.part("billing_details")
    invoice_id = f.text("invoice")
    failure = f.text("failure_code") if kind == "payment.failed" else None
    others = secondary(
        charge=charge_id, invoice=invoice_id, payment_intent=f.text("payment_intent")
    )
    detail = (f.text("failure_message") if kind == "payment.failed" else None) or f.text(
        "description"
    )
    refund = kind == "refund.issued"
    return _event(
        kind,
        external_id,
        at,
        hints=hints(
            f.text("customer"), others, emails=(billing.text("email"), f.text("receipt_email"))
        ),
        title=f"Charge {charge_id} {word}: {money_text(amount, currency)}"
        + (f" ({failure})" if failure else ""),
        detail=detail,
        amount=amount,
        currency=currency,
        thread_key=invoice_id or charge_id,
        url=url(origin, f"payments/{charge_id}"),
        aliases=others,
        attributes=attributes(
            origin,
            f,
            charge_id,
            invoice=invoice_id,
            payment_intent=f.text("payment_intent"),
            stripe_status=f.text("status"),
            failure_code=failure,
            refunded=f.raw("refunded") if refund else None,
            charge_amount=str(f.money("amount")) if refund else None,
        ),
    )


def refund(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime, **_):
    """A refund object names its charge (or, without one, its payment
    intent): resolved and threaded through it."""
    refund_id = f.text("id", required=True)
    charge_id = f.text("charge")
    payment_intent = f.text("payment_intent")
    if not (charge_id or payment_intent):
        raise f.error("charge", "is required")
    currency = f.currency()
    amount = f.money("amount")
    others = secondary(charge=charge_id, payment_intent=payment_intent)
    of = f"charge {charge_id}" if charge_id else f"payment {payment_intent}"
    return _event(
        kind,
        external_id,
        at,
        hints=hints(f.text("customer"), others),
        title=f"Refund {refund_id} of {of}: {money_text(amount, currency)}",
        amount=amount,
        currency=currency,
        thread_key=charge_id or payment_intent,
        url=url(origin, f"payments/{charge_id or payment_intent}"),
        aliases=others,
        attributes=attributes(
            origin,
            f,
            refund_id,
            charge=charge_id,
            reason=f.text("reason"),
            stripe_status=f.text("status"),
        ),
    )


# --- disputes ---------------------------------------------------------------


def dispute_closed(f: Fields) -> bool:
    return f.text("status") in DISPUTE_CLOSED


def dispute(kind: str, f: Fields, origin: Origin, external_id: str, at: datetime, **_):
    """`f` is the dispute (connectors.stripe_versions.dispute_view), which
    names only its charge: resolved and taught through it."""
    charge_id = f.text("charge", required=True)
    dispute_id = f.text("id", required=True)
    currency = f.currency()
    amount = f.money("amount")
    reason = f.text("reason")
    stripe_status = f.text("status")
    # The Stripe status refines the thread's; a dispute closed some other way
    # than won or lost (warning_closed, ...) is "closed", which ends it too.
    # Its opening, read from a snapshot of it closed, was open then.
    status = stripe_status
    if kind == "dispute.closed" and stripe_status not in ("won", "lost"):
        status = "closed"
    elif kind == "dispute.opened" and stripe_status in DISPUTE_CLOSED:
        status = None
    due_by = f.time("evidence_details.due_by")
    word = "opened" if kind == "dispute.opened" else f"closed ({stripe_status or 'closed'})"
    others = secondary(charge=charge_id, payment_intent=f.text("payment_intent"))
    own_page = f"disputes/{dispute_id}" if f.raw("id") else f"payments/{charge_id}"
    return _event(
        kind,
        external_id,
        at,
        hints=hints(f.text("customer"), others),
        title=f"Dispute {dispute_id} {word} on charge {charge_id}: "
        f"{money_text(amount, currency)}" + (f" ({reason})" if reason else ""),
        amount=amount,
        currency=currency,
        thread_key=dispute_id,
        url=url(origin, own_page),
        status=status,
        due_at=due_by if kind == "dispute.opened" else None,
        category=reason,
        aliases=others,
        attributes=attributes(
            origin,
            f,
            dispute_id,
            charge=charge_id,
            reason=reason,
            stripe_status=stripe_status,
            evidence_due_by=due_by.isoformat() if due_by else None,
        ),
    )


# --- subscriptions ----------------------------------------------------------


def subscription(kind, f: Fields, origin: Origin, external_id: str, at, changed=None, **_):
    subscription_id = f.text("id", required=True)
    currency, amount = _subscription_amount(f)
    stripe_status = f.text("status")
    word = kind.rpartition(".")[2]
    price = f" {money_text(amount, currency)}" if currency else ""
    # A discount known only by id: no monthly amount (MRR says unpriced), the
    # amount before it kept beside (connectors.stripe_recurring says why).
    unknown = unknown_discounts(f)
    listed = list_monthly(f, currency) if unknown else None
    price += " (discount not known)" if unknown else ""
    page = f"subscriptions/{subscription_id}" if f.raw("id") else f"customers/{f.text('customer')}"
    return _event(
        kind,
        external_id,
        at,
        hints=hints(f.text("customer")),
        title=f"Subscription {subscription_id} {word}:{price} ({stripe_status or 'no status'})",
        detail=f.text("description"),
        amount=amount,
        currency=currency,
        thread_key=subscription_id,
        url=url(origin, page),
        attributes=attributes(
            origin,
            f,
            subscription_id,
            stripe_status=stripe_status,
            cancel_at_period_end=f.raw("cancel_at_period_end"),
            monthly_amount=_text(monthly_amount(f, currency)),
            list_monthly_amount=_text(listed),
            discount_not_known=unknown or None,
            changed=sorted(changed) if changed else None,
        ),
    )


def _subscription_amount(f: Fields) -> tuple[str | None, Decimal | None]:
    """What the subscription bills per period: the sum of its items' prices
    (an older API has one `plan` and `quantity`); none when any is unknown."""
    items = f.raw("items.data")
    if isinstance(items, list) and items:
        lines = [
            ((item.get("price") or item.get("plan") or {}), item.get("quantity", 1))
            for item in items
            if isinstance(item, dict)
        ]
    elif isinstance(f.raw("plan"), dict):
        lines = [(f.raw("plan"), f.data.get("quantity", 1))]
    else:
        return None, None
    currency = f.get("currency")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        return None, None
    currency = currency.upper()
    total = 0
    for price, quantity in lines:
        if not isinstance(price, dict):  # a price id, not the price
            return None, None
        unit = price.get("unit_amount", price.get("amount"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (unit, quantity)):
            return None, None
        total += unit * quantity
    return currency, Decimal(total).scaleb(-exponent(currency))


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
