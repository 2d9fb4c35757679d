"""The `stripe` connector (billing): Stripe events, and objects of API exports.

Input: one Stripe event, a JSON array of them, or NDJSON (by file extension;
a webhook body is JSON). A list response (`{"object": "list", "data": [...]}`)
gives one record per item. Both event shapes are read: the current one
(`object: "event"`, `api_version`, `data.object`) and the older one without
`object`/`api_version` at the top; either way it is `type` and `data.object`,
and the object may be in any API version the account was ever pinned to
(connectors.stripe_versions knows what the older ones call each field).

What each event type tells is in EVENTS below; any other type is skipped
with its name. A bare object, as `GET /v1/invoices` or a dashboard export
gives it, has no event around it: invoices, charges, disputes, refunds,
subscriptions and invoice payments are read as the steps their state shows;
other objects (customers, plans, ...) are skipped with their name. Either
way an object's steps are events keyed "<object id>:<step>", at the object's
own times (connectors.stripe_lifecycle), so an export and the webhook events
of the same steps are one history, and an object first seen late in its life
still opens when it did.

Client: `data.object.customer` as identity ("stripe", "cus_..."); charges
also give their billing and receipt emails. A record that names a charge,
an invoice or a payment intent carries it as a hint ("stripe_charge",
"stripe_invoice", "stripe_payment_intent"), and teaches it for its client
once placed: a dispute names only its charge, a refund its charge, an
invoice payment its invoice, and they wait as unmatched until some record
has tied that id to a client, then are replayed by the pipeline.
"""

from collections.abc import Iterator
from typing import NamedTuple

from marshmallow import fields

from connectors.base import CanonicalEvent, Connector, Skip
from connectors.fields import KnownFieldsSchema
from connectors.readers import Record, format_of, read_records
from connectors.registry import register
from connectors.stripe_fields import Fields, Origin
from connectors.stripe_lifecycle import LATEST, LIVES, Report, events, natural_key


class Told(NamedTuple):
    """What an event type tells of its object: a step of its life (LATEST:
    the last one its state shows), a fact of its own (a kind), or, with
    neither, only the steps its snapshot shows."""

    object: str
    step: str | None = None
    fact: str | None = None


EVENTS: dict[str, Told] = {
    "invoice.created": Told("invoice", LATEST),  # before 2018 invoices had no drafts
    "invoice.finalized": Told("invoice", "issued"),
    "invoice.paid": Told("invoice", "paid"),
    "invoice.payment_succeeded": Told("invoice", "paid"),
    "invoice.voided": Told("invoice", "void"),
    "invoice.payment_failed": Told("invoice", fact="payment.failed"),
    "invoice.updated": Told("invoice"),
    "invoice.marked_uncollectible": Told("invoice"),
    "invoice_payment.paid": Told("invoice_payment", "paid"),
    "charge.succeeded": Told("charge", "succeeded"),
    "charge.failed": Told("charge", "failed"),
    "charge.refunded": Told("charge", "refunded"),
    "charge.captured": Told("charge"),
    "charge.dispute.created": Told("dispute", "opened"),
    "charge.dispute.closed": Told("dispute", "closed"),
    "charge.dispute.updated": Told("dispute"),
    "charge.disputed": Told("dispute", LATEST),  # before 2014; its object may be the charge
    "customer.subscription.created": Told("subscription", "created"),
    "customer.subscription.updated": Told("subscription", fact="subscription.updated"),
    "customer.subscription.paused": Told("subscription", fact="subscription.updated"),
    "customer.subscription.resumed": Told("subscription", fact="subscription.updated"),
    "customer.subscription.deleted": Told("subscription", "cancelled"),
    "customer.subscription.trial_will_end": Told("subscription"),
}


class DataSchema(KnownFieldsSchema):
    object = fields.Dict(required=True)
    previous_attributes = fields.Dict(load_default=None, allow_none=True)


class StripeEventSchema(KnownFieldsSchema):
    """The event envelope; the object inside is read field by field when
    converting, since its shape depends on the type and the API version."""

    id = fields.String(required=True)
    type = fields.String(required=True)
    created = fields.Integer(required=True, strict=True)
    data = fields.Nested(DataSchema, required=True)
    api_version = fields.String(load_default=None, allow_none=True)
    livemode = fields.Boolean(load_default=None, allow_none=True)


def _is_bare(data: dict) -> bool:
    """Objects name themselves (`"object": "invoice"`); events say "event",
    or, in the older shape, nothing."""
    kind = data.get("object")
    return isinstance(kind, str) and kind != "event"


@register
class StripeConnector(Connector):
    name = "stripe"
    natural_key = ("id",)
    schema = StripeEventSchema

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """Records as usual, with the items of a list response taken out."""
        for record in read_records(content, format_of(filename, self.default_format)):
            items = record.data.get("data")
            if record.data.get("object") not in ("list", "search_result") or not isinstance(
                items, list
            ):
                yield record
                continue
            prefix = "" if record.locator.startswith("index") else f"{record.locator} "
            for index, item in enumerate(items):
                locator = f"{prefix}data[{index}]"
                if isinstance(item, dict):
                    yield Record(record.position + index, locator, item)
                else:
                    yield Record(record.position + index, locator, {"_raw": item}, "not an object")

    def schema_applies(self, data: dict) -> bool:
        """The schema is the event envelope's; a bare object is read in `convert`."""
        return not _is_bare(data)

    def key_of(self, data: dict) -> str:
        """The event id; for a bare object its key and state, so an unmatched
        export of a later state is not taken for the one already waiting."""
        if _is_bare(data):
            return natural_key(data)
        return str(data.get("id", ""))

    def convert(self, data: dict) -> list[CanonicalEvent]:
        if _is_bare(data):
            kind = data["object"]
            if kind not in LIVES:
                raise Skip(
                    f"stripe object {kind!r} is not mapped (only events and the objects "
                    f"{', '.join(sorted(LIVES))} are)"
                )
            livemode = data.get("livemode")
            livemode = livemode if isinstance(livemode, bool) else None
            origin = Origin(f"{kind} object", livemode, None)
            return events(kind, Fields(data, ""), origin)
        told = EVENTS.get(data["type"])
        if told is None:
            raise Skip(f"stripe event type {data['type']!r} is not mapped")
        origin = Origin(data["type"], data["livemode"], data["api_version"])
        at = Fields(data, "").time("created", required=True)
        changed = tuple((data["data"].get("previous_attributes") or {}).keys())
        report = Report(data["id"], at, told.step, told.fact, changed)
        return events(told.object, Fields(data["data"]["object"], "data.object."), origin, report)
