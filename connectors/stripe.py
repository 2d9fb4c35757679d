"""The `stripe` connector (billing): Stripe events, and objects of API exports.

Input: one Stripe event, a JSON array of them, or NDJSON (by file extension;
a webhook body is JSON). A list response (`{"object": "list", "data": [...]}`)
gives one record per item. Both event shapes are read: the current one
(`object: "event"`, `api_version`, `data.object`) and the older one without
`object`/`api_version` at the top; either way it is `type` and `data.object`.
The event `id` is the natural key, and `created` the time of the fact.

What each event type means is in EVENTS below; any other type is skipped with
its name. Client: `data.object.customer` as identity ("stripe", "cus_...");
charges also give their billing and receipt emails. Every charge event teaches
the pipeline its charge id ("stripe_charge", "ch_..."), because a dispute
names only its charge: it waits as unmatched until the charge's event has been
seen, and is replayed by the pipeline then.

A bare object, as `GET /v1/invoices` or a dashboard export gives it, has no
event around it. We read it as the events its current state implies, since
someone importing history wants that history on the timeline:
  invoice       finalized -> invoice.issued; paid -> also payment.received;
                void -> also invoice.voided; a draft is skipped (not issued)
  charge        succeeded / failed -> payment.received / payment.failed;
                with money refunded -> also refund.issued; pending is skipped
  dispute       dispute.opened, or dispute.closed once its status is final
  refund        refund.issued on the charge's thread, once succeeded
  subscription  subscription.created; canceled -> also subscription.cancelled
Each gets the external id "<object id>:<state>" ("in_1:paid"), so a later
export of the same object adds only what changed. Other objects (customers,
plans, ...) are skipped with their name. An export and the webhook events of
the same facts have different ids, so ingesting both shows a fact twice.
"""

from collections.abc import Callable, Iterator

from marshmallow import EXCLUDE, Schema, fields, pre_load

from connectors import stripe_objects as so
from connectors.base import CanonicalEvent, Connector, Skip
from connectors.readers import Record, format_of, read_records
from connectors.registry import register
from connectors.stripe_bare import convert_bare
from connectors.stripe_fields import Fields, Origin

BARE = "bare"  # the `type` given to a record that is an object, not an event


def _invoice(kind):
    return lambda f, origin, ext, at, changed: [so.invoice(kind, f, origin, ext, at)]


def _paid(f, origin, ext, at, changed):
    """Stripe sends both invoice.paid and invoice.payment_succeeded for one
    payment; keyed by the invoice, as an exported paid invoice is, the second
    (and the export) come in as duplicates instead of a second payment."""
    paid_key = f"{f.text('id', required=True)}:paid"
    return [so.invoice("payment.received", f, origin, paid_key, at)]


def _charge(kind):
    return lambda f, origin, ext, at, changed: [so.charge(kind, f, origin, ext, at)]


def _dispute(kind):
    return lambda f, origin, ext, at, changed: [so.dispute(kind, f, origin, ext, at)]


def _disputed(f, origin, ext, at, changed):
    """The older API's `charge.disputed`: opened, unless already settled."""
    kind = "dispute.closed" if so.dispute_closed(f) else "dispute.opened"
    return [so.dispute(kind, f, origin, ext, at)]


def _subscription(kind):
    return lambda f, origin, ext, at, changed: [so.subscription(kind, f, origin, ext, at, changed)]


Mapper = Callable[..., list[CanonicalEvent]]
EVENTS: dict[str, Mapper] = {
    "invoice.finalized": _invoice("invoice.issued"),
    "invoice.paid": _paid,
    "invoice.payment_succeeded": _paid,
    "invoice.payment_failed": _invoice("payment.failed"),
    "invoice.voided": _invoice("invoice.voided"),
    "charge.succeeded": _charge("payment.received"),
    "charge.failed": _charge("payment.failed"),
    "charge.refunded": _charge("refund.issued"),
    "charge.dispute.created": _dispute("dispute.opened"),
    "charge.dispute.closed": _dispute("dispute.closed"),
    "charge.disputed": _disputed,
    "customer.subscription.created": _subscription("subscription.created"),
    "customer.subscription.updated": _subscription("subscription.updated"),
    "customer.subscription.paused": _subscription("subscription.updated"),
    "customer.subscription.resumed": _subscription("subscription.updated"),
    "customer.subscription.deleted": _subscription("subscription.cancelled"),
}


class DataSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    object = fields.Dict(required=True)
    previous_attributes = fields.Dict(load_default=None, allow_none=True)


class StripeEventSchema(Schema):
    """The event envelope; the object inside is read field by field when
    converting, since its shape depends on the type."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)
    type = fields.String(required=True)
    created = fields.Integer(required=True, strict=True)
    data = fields.Nested(DataSchema, required=True)
    api_version = fields.String(load_default=None, allow_none=True)
    livemode = fields.Boolean(load_default=None, allow_none=True)

    @pre_load
    def wrap_bare_object(self, data, **kwargs):
        """A bare object becomes an event of type "bare" around itself."""
        if _is_bare(data):
            return {
                "id": data.get("id"),
                "type": BARE,
                "created": data.get("created"),
                "livemode": data.get("livemode"),
                "data": {"object": data},
            }
        return data


def _is_bare(data: dict) -> bool:
    """Objects name themselves (`"object": "invoice"`); events say "event",
    or, in the older shape, nothing."""
    kind = data.get("object")
    return isinstance(kind, str) and kind != "event"


@register
class StripeConnector(Connector):
    name = "stripe"
    source = "billing"
    natural_key = ("id",)
    schema = StripeEventSchema
    signature_scheme = "stripe"

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

    def key_of(self, data: dict) -> str:
        """The event id; for a bare object its id and state, so an unmatched
        export of a later state is not taken for the one already waiting."""
        if _is_bare(data):
            return f"{data.get('id', '')}:{data.get('status', '')}"
        return str(data.get("id", ""))

    def convert(self, data: dict) -> list[CanonicalEvent]:
        body = data["data"]["object"]
        if data["type"] == BARE:
            return convert_bare(body, Origin(f"{body['object']} object", data["livemode"], None))
        mapper = EVENTS.get(data["type"])
        if mapper is None:
            raise Skip(f"stripe event type {data['type']!r} is not mapped")
        origin = Origin(data["type"], data["livemode"], data["api_version"])
        at = Fields(data, "").time("created", required=True)
        changed = (data["data"].get("previous_attributes") or {}).keys()
        return mapper(Fields(body, "data.object."), origin, data["id"], at, changed)
