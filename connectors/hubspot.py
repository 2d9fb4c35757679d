"""The `hubspot` connector: CRM v3 objects as HubSpot's API and webhooks send them.

Takes a list or search response (`{"results": [...], "paging": ...}`), one
object (`{"id", "properties", "createdAt", "updatedAt", ...}`), an array of
objects, and a webhook delivery: an array of `{eventId, subscriptionType,
objectId, occurredAt, ...}`. Which object a result is comes from the file's
name (`companies.json`, `deals.json`, `emails.json`..., as the live source
names its pages), else from an `objectType` field, else from its properties
(`dealstage`, `hs_call_title`, `hs_note_body`...): connectors.hubspot_records.

What each becomes (docs/formats.md):
- a company is an identity claim: its id (identity system `hubspot`) and its
  `domain` (system `domain`), as a Zendesk organization is.
- a deal is one event per state (stage, amount, close date), as a Salesforce
  opportunity: open stages are `quote.sent` at `hs_lastmodifieddate`; closed
  (`hs_is_closed`, or stage `closedwon`/`closedlost`) is `deal.won`/`deal.lost`
  at `closedate`. Every state implies the opening at `createdate`, so a deal
  first seen won still opens when it was created. The amount's currency is
  `deal_currency_code`.
- an email, call, meeting or note is a touch (`note`, `call`, `meeting`; an
  email is a `note` marked `engagement: email`) at `hs_timestamp`, when it
  happened, not when it was logged.
- a deal or engagement names its client by its associated companies
  (`associations.companies.results[].id`, identity system `hubspot`); one
  without a company is rejected, naming `associations.companies`.
- a webhook event names only ids: a company or deal event is kept as what it
  says (the company's or deal's identity) only where meaningful, see
  connectors.hubspot_records.webhook_event; the live source fetches the objects.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load

from connectors.base import CanonicalEvent, Connector, IdentityClaim, RecordError, Skip
from connectors.fields import REQUIRED
from connectors.hubspot_email_events import email_event, is_email_event
from connectors.hubspot_records import (
    ENGAGEMENTS,
    Time,
    company_ids,
    object_type_of,
    webhook_event,
)
from connectors.lifecycle import Moment, implied
from connectors.readers import Record, items_under
from connectors.registry import register
from crm.identities import ClientHints

SYSTEM = "hubspot"
OBJECT_TYPE = "objectType"
WON, LOST = "closedwon", "closedlost"


class HubSpotObjectSchema(Schema):
    """What every CRM v3 object has; its properties are read per type."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, error_messages=REQUIRED)
    properties = fields.Dict(required=True, error_messages=REQUIRED)
    created_at = Time(data_key="createdAt", load_default=None, allow_none=True)
    updated_at = Time(data_key="updatedAt", load_default=None, allow_none=True)
    archived = fields.Boolean(load_default=False, allow_none=True)
    associations = fields.Raw(load_default=None, allow_none=True)
    object_type = fields.String(
        data_key=OBJECT_TYPE,
        required=True,
        error_messages={
            "required": "is not known: name the file companies.json, deals.json, "
            "emails.json, calls.json, meetings.json or notes.json, or give objectType"
        },
    )

    @pre_load
    def tidy(self, data, **kwargs):
        """Ids are text in HubSpot's answers; a script may write numbers."""
        if isinstance(data.get("id"), int) and not isinstance(data["id"], bool):
            data = data | {"id": str(data["id"])}
        return data


@register
class HubSpotConnector(Connector):
    """HubSpot companies (claims), deals (sales threads) and engagements (touches)."""

    name = "hubspot"
    natural_key = ("id", "updatedAt")
    schema = HubSpotObjectSchema

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """One record per result of a list or search page, each marked with
        its object type; a webhook's events one record each."""
        records = items_under(super().parse(content, filename), "results")
        for record in items_under(records, "events"):
            kind = object_type_of(record.data, filename) if record.parse_error is None else None
            if kind:
                record = Record(record.position, record.locator, record.data | {OBJECT_TYPE: kind})
            yield record

    def schema_applies(self, data: dict) -> bool:
        """Webhook and marketing email events reach convert raw."""
        return "subscriptionType" not in data and not is_email_event(data)

    def key_of(self, data: dict) -> str:
        if "subscriptionType" in data:
            return f"event:{data.get('eventId', '')}"
        if is_email_event(data):
            return f"email-event:{data.get('id', '')}"
        return f"{data.get(OBJECT_TYPE, '')}:{data.get('id', '')}:{data.get('updatedAt', '')}"

    def convert(self, data: dict) -> list[CanonicalEvent | IdentityClaim]:
        if "subscriptionType" in data:
            return webhook_event(data)
        if is_email_event(data):
            return email_event(data)
        kind = data["object_type"]
        if kind == "companies":
            return [_company_claim(data)]
        if kind == "deals":
            return _deal_events(data)
        if kind in ENGAGEMENTS:
            return [_engagement(data, kind)]
        raise Skip(f"hubspot {kind} objects are not mapped")


def _company_claim(data: dict) -> IdentityClaim:
    names = [(SYSTEM, data["id"])]
    domain = data["properties"].get("domain")
    if isinstance(domain, str) and domain.strip():
        names.append(("domain", domain.strip().lower().removeprefix("www.")))
    return IdentityClaim(hints=ClientHints(identities=tuple(names)), aliases=tuple(names))


def _hints(data: dict) -> ClientHints:
    companies = company_ids(data["associations"])
    if not companies:
        raise RecordError(
            "associations.companies",
            f"hubspot {data['object_type']} {data['id']} has no associated company to name "
            "its client",
        )
    return ClientHints(identities=tuple((SYSTEM, company) for company in companies))


def _time(properties: dict, name: str) -> datetime | None:
    value = properties.get(name)
    if value in (None, ""):
        return None
    try:
        return Time().deserialize(value)
    except ValidationError:
        raise RecordError(f"properties.{name}", f"{value!r} is not a time") from None


def _text(properties: dict, name: str) -> str | None:
    """A property as text: HubSpot writes every property as a string, a
    hand-made file may not."""
    value = properties.get(name)
    if isinstance(value, bool) or value in (None, ""):
        return None
    return str(value) if isinstance(value, str | int | float) else None


def _deal_events(data: dict) -> list[CanonicalEvent]:
    properties, deal_id = data["properties"], data["id"]
    stage = (_text(properties, "dealstage") or "").strip()
    closed = str(properties.get("hs_is_closed") or "").lower() == "true" or stage in (WON, LOST)
    won = str(properties.get("hs_is_closed_won") or "").lower() == "true" or stage == WON
    created = _time(properties, "createdate") or data["created_at"]
    modified = _time(properties, "hs_lastmodifieddate") or data["updated_at"]
    close = _time(properties, "closedate")
    amount, currency = _money(properties)
    if closed:
        kind, verb = ("deal.won", "Deal won") if won else ("deal.lost", "Deal lost")
        occurred_at = close or modified
        if occurred_at is None:
            raise RecordError("properties.closedate", "is required for a closed deal")
        occurred_at = min(max(occurred_at, created or occurred_at), datetime.now(UTC))
    else:
        kind, verb = "quote.sent", f"Deal {stage or 'open'}"
        occurred_at = modified or created
        if occurred_at is None:
            raise RecordError("properties.hs_lastmodifieddate", "is required")
    name = _text(properties, "dealname") or f"HubSpot deal {deal_id}"
    money = f" ({currency} {amount:,.2f})" if amount is not None else ""
    opening = f"{deal_id}:created"
    amount_text = format(amount.normalize(), "f") if amount is not None else ""
    close_day = close.date().isoformat() if close else ""
    state_id = f"{deal_id}:{stage}:{amount_text}:{close_day}"[:200]
    event = CanonicalEvent(
        origin=SYSTEM,
        external_id=opening if kind == "quote.sent" and occurred_at == created else state_id,
        kind=kind,
        occurred_at=occurred_at,
        hints=_hints(data),
        title=f"{verb}: {name}{money}"[:500],
        detail=_text(properties, "description"),
        amount=amount,
        currency=currency,
        thread_key=deal_id,
        actor=_text(properties, "hubspot_owner_id"),
        attributes={
            "stage": stage,
            "pipeline": _text(properties, "pipeline"),
            "hubspot_id": deal_id,
        },
        status=stage[:32] if kind == "quote.sent" else None,
        due_at=close if kind == "quote.sent" else None,
    )
    title = f"Deal created: {name}{money}"[:500]
    return implied(event, opened=Moment(created, opening, title=title))


def _money(properties: dict) -> tuple[Decimal | None, str | None]:
    value = properties.get("amount")
    if value in (None, ""):
        return None, None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise RecordError("properties.amount", f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise RecordError("properties.amount", f"{value!r} is not a number")
    currency = str(properties.get("deal_currency_code") or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise RecordError(
            "properties.deal_currency_code", "is required with an amount (ISO 4217 code)"
        )
    return amount, currency


# Per engagement type: its timeline kind, its title and body properties.
_ENGAGEMENT_FIELDS = {
    "emails": ("note", "Email", "hs_email_subject", "hs_email_text"),
    "calls": ("call", "Call", "hs_call_title", "hs_call_body"),
    "meetings": ("meeting", "Meeting", "hs_meeting_title", "hs_meeting_body"),
    "notes": ("note", "Note", None, "hs_note_body"),
}


def _engagement(data: dict, object_type: str) -> CanonicalEvent:
    properties = data["properties"]
    kind, label, title_field, body_field = _ENGAGEMENT_FIELDS[object_type]
    at = _time(properties, "hs_timestamp")
    if at is None:
        raise RecordError("properties.hs_timestamp", "is required: when it happened")
    subject = _text(properties, title_field) if title_field else None
    body = _text(properties, body_field)
    title = f"{label}: {subject}" if subject else label
    if not subject and body:
        title = f"{label}: {' '.join(str(body).split())[:120]}"
    direction = _text(properties, "hs_email_direction") or _text(properties, "hs_call_direction")
    return CanonicalEvent(
        origin=SYSTEM,
        external_id=f"{object_type}:{data['id']}",
        kind=kind,
        occurred_at=at,
        hints=_hints(data),
        title=title[:500],
        detail=body,
        actor=_text(properties, "hubspot_owner_id"),
        attributes={
            "engagement": object_type.removesuffix("s"),
            "hubspot_id": data["id"],
            **({"direction": direction} if direction else {}),
        },
    )
