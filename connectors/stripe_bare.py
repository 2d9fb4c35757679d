"""Bare Stripe objects (API exports): the events their current state implies.

See connectors.stripe for what each object gives. External ids are
"<object id>:<state>", so importing the same export again is a duplicate and
a later export of the object adds only the step it has taken since. Times
are the object's own: when it was finalized, paid, voided or canceled, else
when it was created.
"""

from connectors import stripe_objects as so
from connectors.base import CanonicalEvent, Skip
from connectors.stripe_fields import Fields, Origin


def convert_bare(body: dict, origin: Origin) -> list[CanonicalEvent]:
    convert = OBJECTS.get(body["object"])
    if convert is None:
        raise Skip(
            f"stripe object {body['object']!r} is not mapped (only events and the objects "
            f"{', '.join(sorted(OBJECTS))} are)"
        )
    f = Fields(body, "")
    object_id = f.text("id", required=True)
    created = f.time("created", required=True)
    return convert(f, origin, object_id, created)


def _when(f: Fields, *names: str, default):
    """The first of these timestamps the object has, else `default`."""
    for name in names:
        part, _, leaf = name.rpartition(".")
        value = (f.part(part) if part else f).time(leaf)
        if value is not None:
            return value
    return default


def _invoice(f, origin, invoice_id, created):
    status = f.text("status")
    if status in (None, "draft"):
        raise Skip(f"stripe invoice {invoice_id} is a draft: not issued yet")
    issued = _when(f, "status_transitions.finalized_at", "effective_at", default=created)
    events = [so.invoice("invoice.issued", f, origin, f"{invoice_id}:issued", issued)]
    if status == "paid":
        paid = _when(f, "status_transitions.paid_at", default=issued)
        events.append(so.invoice("payment.received", f, origin, f"{invoice_id}:paid", paid))
    elif status == "void":
        voided = _when(f, "status_transitions.voided_at", default=issued)
        events.append(so.invoice("invoice.voided", f, origin, f"{invoice_id}:void", voided))
    return events


def _charge(f, origin, charge_id, created):
    status = f.text("status")
    events = []
    if status == "succeeded":
        events.append(so.charge("payment.received", f, origin, f"{charge_id}:succeeded", created))
    elif status == "failed":
        events.append(so.charge("payment.failed", f, origin, f"{charge_id}:failed", created))
    refunded = f.data.get("amount_refunded")
    if isinstance(refunded, int) and not isinstance(refunded, bool) and refunded > 0:
        # Keyed by the amount so far: a further partial refund is a new fact.
        # A charge has no refund time; its refunds list may (else its creation).
        external_id = f"{charge_id}:refunded:{refunded}"
        events.append(so.charge("refund.issued", f, origin, external_id, _refunded_at(f, created)))
    if not events:
        raise Skip(
            f"stripe charge {charge_id} is {status or 'without status'}: nothing happened yet"
        )
    return events


def _refunded_at(f: Fields, default):
    refunds = f.part("refunds").data.get("data")
    times = [r.get("created") for r in refunds or () if isinstance(r, dict)]
    times = [t for t in times if isinstance(t, int) and not isinstance(t, bool)]
    return Fields({"at": max(times)}, "").time("at") if times else default


def _dispute(f, origin, dispute_id, created):
    if so.dispute_closed(f):
        return [so.dispute("dispute.closed", f, origin, f"{dispute_id}:closed", created)]
    return [so.dispute("dispute.opened", f, origin, f"{dispute_id}:opened", created)]


def _refund(f, origin, refund_id, created):
    status = f.text("status")
    if status != "succeeded":
        raise Skip(f"stripe refund {refund_id} is {status or 'without status'}, not succeeded")
    return [so.refund(f, origin, f"{refund_id}:succeeded", created)]


def _subscription(f, origin, subscription_id, created):
    started = _when(f, "start_date", default=created)
    events = [
        so.subscription("subscription.created", f, origin, f"{subscription_id}:created", started)
    ]
    if f.text("status") == "canceled":
        ended = _when(f, "canceled_at", "ended_at", default=started)
        events.append(
            so.subscription(
                "subscription.cancelled", f, origin, f"{subscription_id}:cancelled", ended
            )
        )
    return events


OBJECTS = {
    "invoice": _invoice,
    "charge": _charge,
    "dispute": _dispute,
    "refund": _refund,
    "subscription": _subscription,
}
