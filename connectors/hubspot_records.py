"""Reading HubSpot's documents: which records a response holds, what object
type each is, its times, its associated companies, and its webhook events.

Apart from connectors.hubspot so that the mapping reads as one idea and the
shapes HubSpot sends (list pages, search pages, single objects, webhook
arrays, epoch-millisecond or ISO times) as another.
"""

import re
from datetime import UTC, datetime
from pathlib import PurePath

from marshmallow import ValidationError, fields

from connectors.accounting import needs_fetch
from connectors.base import Skip
from connectors.fields import parse_datetime

ENGAGEMENTS = ("emails", "calls", "meetings", "notes")
OBJECT_TYPES = ("companies", "deals", *ENGAGEMENTS)
# The property only one object type has, to know a result without a file name.
_TELLING = (
    ("dealstage", "deals"),
    ("dealname", "deals"),
    ("hs_email_subject", "emails"),
    ("hs_email_text", "emails"),
    ("hs_email_direction", "emails"),
    ("hs_call_title", "calls"),
    ("hs_call_body", "calls"),
    ("hs_meeting_title", "meetings"),
    ("hs_meeting_body", "meetings"),
    ("hs_note_body", "notes"),
    ("domain", "companies"),
)
# `objectType` as HubSpot spells it in webhooks and association labels.
_SINGULAR = {"company": "companies", "deal": "deals", "email": "emails", "call": "calls"}
_SINGULAR |= {"meeting": "meetings", "note": "notes"}
_MILLIS = re.compile(r"^\d{12,14}$")


class Time(fields.Field):
    """ISO 8601, as CRM v3 writes times, or epoch milliseconds, as webhooks
    and older properties do; always timezone-aware."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and _MILLIS.match(value.strip()):
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        try:
            return parse_datetime(value)
        except (TypeError, ValueError, AttributeError):
            raise ValidationError("is not an ISO 8601 time or epoch milliseconds") from None


def object_type_of(data: dict, filename: str | None) -> str | None:
    """The CRM object type of a result: its file's name, its `objectType`,
    else the property only that type has."""
    if "subscriptionType" in data or ("recipient" in data and "properties" not in data):
        return None
    stem = PurePath(filename or "").stem.lower()
    for name in OBJECT_TYPES:
        if stem == name or stem.endswith(f"-{name}") or stem.startswith(f"{name}-"):
            return name
    declared = str(data.get("objectType") or "").lower()
    if declared in OBJECT_TYPES or declared in _SINGULAR:
        return _SINGULAR.get(declared, declared)
    properties = data.get("properties")
    if isinstance(properties, dict):
        for name, object_type in _TELLING:
            if name in properties:
                return object_type
    return None


def company_ids(associations) -> list[str]:
    """The ids of the companies an object is associated with, as the v3 list
    and read endpoints give them (`{"companies": {"results": [{"id"...}]}}`)."""
    if not isinstance(associations, dict):
        return []
    companies = associations.get("companies") or associations.get("company")
    results = companies.get("results") if isinstance(companies, dict) else companies
    found = []
    for item in results if isinstance(results, list) else []:
        value = item.get("id", item.get("toObjectId")) if isinstance(item, dict) else item
        text = str(value).strip() if value is not None else ""
        if text.isdigit() and text not in found:
            found.append(text)
    return found


def webhook_event(data: dict) -> list:
    """A webhook event names an object by id and what changed, never its
    company: it cannot be placed on a timeline. It is kept as skipped,
    `needs fetching:` as Xero's and QuickBooks' notifications are
    (connectors.accounting), and the connection's sync reads the object."""
    subscription = str(data.get("subscriptionType") or "")
    object_id = data.get("objectId")
    if not subscription or object_id in (None, ""):
        raise Skip("a hubspot webhook event needs subscriptionType and objectId")
    change = ""
    if data.get("propertyName"):
        change = f" ({data['propertyName']} = {data.get('propertyValue')!r})"
    raise needs_fetch(f"hubspot {subscription} of object {object_id}{change}")
