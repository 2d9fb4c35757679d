"""Where older Stripe API versions keep what Touchline reads: the one place.

Stripe renders an event in the API version the account is pinned to, and
an export in the version of whoever made it, so a payload can be ten years
old: an invoice with `date` instead of `created` and `paid`/`forgiven`
instead of `status`, a subscription without `id` (a customer had one), a
charge without `amount_refunded`, a dispute with `evidence_due_by` at its
top or inside the charge it disputes. Nobody should have to know that where
a field is read, so every read goes through connectors.stripe_fields.Fields,
which asks this table when the record lacks the field.

STAND_INS gives, per object and field, what may stand in for it, first
found first: the field's older name, the same fact on an object the record
carries (an expanded `charge.currency`, the charge around a dispute), or a
value the older version implies (`paid: true`: status "paid"). Each returns
the value and the path in the record it came from, which the events carry
in attributes["inferred"] ({"currency": "data.object.lines.data.0.currency"}),
so whoever reads the timeline can tell a read value from an inferred one.
A field nothing stands in for is missing: the reader rejects the record
naming it only if the record cannot go on without it.
"""

from collections.abc import Callable
from typing import Any

Source = Callable[[Any], tuple[Any, str] | None]  # given a Fields: (value, path) or None

# Where an invoice's line items are, by version: a list object (`data`),
# and before 2014 lists by type.
LINE_LISTS = ("data", "subscriptions", "invoiceitems", "prorations")


def present(value) -> bool:
    """Stripe says "no value" with null; some of its older fixtures with ""."""
    return value is not None and value != ""


def named(name: str) -> Source:
    """The field under another name (an older one, or a newer place)."""

    def source(f):
        value = f.raw(name)
        return (value, f.path(name)) if present(value) else None

    return source


def field(name: str) -> Source:
    """Another field's value, itself read with its stand-ins."""

    def source(f):
        value = f.get(name)
        return (value, f.inferred.get(name, f.path(name))) if present(value) else None

    return source


def on_parent(name: str) -> Source:
    """A field of the object this one came inside of (the charge around a dispute)."""

    def source(f):
        return named(name)(f.parent) if f.parent is not None else None

    return source


def first_of(list_path: str, name: str, lists: tuple[str, ...] = ("data",)) -> Source:
    """The field on the first item of a list that has it (an invoice's lines,
    a subscription's items), in any of the versions' shapes of that list."""

    def source(f):
        container = f.raw(list_path)
        for key in lists:
            items = container.get(key) if isinstance(container, dict) else None
            for index in range(len(items) if isinstance(items, list) else 0):
                path = f"{list_path}.{key}.{index}.{name}"
                value = f.raw(path)
                if present(value):
                    return value, f.path(path)
        return None

    return source


def _invoice_status(f):
    """Before 2018 an invoice said `paid` and `forgiven`; there were no drafts."""
    if f.raw("paid") is True:
        return "paid", f.path("paid")
    if f.raw("forgiven") is True:
        return "uncollectible", f.path("forgiven")
    if f.raw("paid") is False:
        return "open", f.path("paid")
    return None


def _charge_status(f):
    """Before `status` (2015), a charge was paid or it had failed."""
    paid = f.raw("paid")
    if isinstance(paid, bool):
        return ("succeeded" if paid else "failed"), f.path("paid")
    return None


def _refunds_total(f):
    """Before `amount_refunded` (2012), the refunds the charge lists..."""
    refunds = f.raw("refunds")
    items = refunds.get("data") if isinstance(refunds, dict) else refunds
    if not isinstance(items, list) or not items:
        return None
    amounts = [item.get("amount") if isinstance(item, dict) else None for item in items]
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in amounts):
        return None
    return sum(amounts), f.path("refunds")


def _refunded_whole(f):
    """...or, with none listed, `refunded: true`: the whole amount."""
    amount = f.raw("amount")
    if f.raw("refunded") is True and isinstance(amount, int) and not isinstance(amount, bool):
        return amount, f.path("amount")
    return None


def _settled_refund(f):
    """A refund from before refunds had a `status` moved money at once: one
    with a balance transaction has succeeded."""
    if present(f.raw("balance_transaction")):
        return "succeeded", f.path("balance_transaction")
    return None


def _customer_and_plan(f):
    """Before 2014 a customer had one subscription, without an id of its own:
    the customer and its plan name it."""
    customer, plan = f.text("customer"), f.raw("plan.id")
    if customer and present(plan):
        return f"{customer}:{plan}", f"{f.path('customer')} + {f.path('plan.id')}"
    return None


STAND_INS: dict[str, dict[str, tuple[Source, ...]]] = {
    "invoice": {
        "created": (named("date"),),  # renamed 2019-03-14
        "status": (_invoice_status,),
        "currency": (
            named("charge.currency"),  # expanded
            named("customer.currency"),  # expanded
            first_of("lines", "currency", LINE_LISTS),
            first_of("lines", "price.currency", LINE_LISTS),
            first_of("lines", "plan.currency", LINE_LISTS),
        ),
        "amount_due": (named("total"), named("amount")),
        "amount_paid": (field("amount_due"),),  # a paid invoice paid what was due
        "amount_remaining": (field("amount_due"),),
        # 2018-11-08 to 2019-03-14 at the top; before, an invoice was final when created.
        "status_transitions.finalized_at": (
            named("finalized_at"),
            named("effective_at"),
            field("created"),
        ),
        "charge": (named("payment"),),  # the pre-2014 name of its charge
        "subscription": (named("parent.subscription_details.subscription"),),  # 2025-03-31
    },
    "charge": {
        "status": (_charge_status,),
        "amount_refunded": (_refunds_total, _refunded_whole),
    },
    "dispute": {
        # A dispute inside its charge (`charge.disputed` before 2014), or only
        # the charge, `disputed: true`: the charge says what the dispute does not.
        "charge": (on_parent("id"),),
        "customer": (on_parent("customer"),),
        "currency": (on_parent("currency"),),
        "amount": (on_parent("amount"),),
        "payment_intent": (on_parent("payment_intent"),),
        "id": (field("charge"),),  # before disputes had ids, the charge named one
        "evidence_details.due_by": (named("evidence_due_by"),),  # before 2014-12
    },
    "subscription": {
        "id": (_customer_and_plan,),
        "created": (named("start"),),
        "start_date": (named("start"), named("created")),  # renamed 2019-10-17
        "ended_at": (named("canceled_at"),),
        "currency": (
            named("plan.currency"),
            first_of("items", "price.currency"),
            first_of("items", "plan.currency"),
        ),
    },
    "refund": {
        "status": (_settled_refund,),
        "currency": (named("charge.currency"),),  # expanded
    },
    "invoice_payment": {
        "amount_paid": (named("amount_requested"),),
        "currency": (named("invoice.currency"),),  # expanded
    },
}


def stand_ins(kind: str | None, name: str) -> tuple[Source, ...]:
    return STAND_INS.get(kind, {}).get(name, ()) if kind else ()


def dispute_view(f):
    """The dispute an object describes, as Fields of kind "dispute": the
    object itself, or for an older `charge.disputed` whose object is the
    charge, the dispute inside it (or, when it has none, the charge's own
    say, through the stand-ins above)."""
    if f.raw("object") != "charge":
        return f.of("dispute")
    inner = f.raw("dispute")
    return f.child(inner if isinstance(inner, dict) else {}, "dispute", "dispute")
