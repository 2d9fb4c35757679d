"""The `sendgrid` connector: SendGrid's Event Webhook, a JSON array of events.

Each element is one event about one message to one recipient. The recipient's
`email` is the only client hint SendGrid gives, so the pipeline tries the
contact with that email, then an identity mapped for the email or its domain
(`flask identities map domain example.com acme`).

`sg_event_id` is SendGrid's dedupe key. The external id is
`<sg_event_id>:<event>`: real ids are unique per event, so adding the event
name never merges or splits real events, but SendGrid's own documented sample
uses the placeholder "sg_event_id" for every event and would otherwise fold
eight different facts into one.

Events that change nothing a person at the provider acts on (`processed`,
`deferred`, `group_resubscribe`, and anything new) are skipped by name.
"""

from datetime import UTC, datetime

from marshmallow import INCLUDE, Schema, fields, pre_load

from connectors.base import CanonicalEvent, Connector, Skip
from connectors.fields import REQUIRED
from connectors.registry import register
from crm.identities import ClientHints

# SendGrid event -> (our kind, how the timeline says it).
KINDS = {
    "delivered": ("email.delivered", "Email delivered"),
    "open": ("email.opened", "Email opened"),
    "click": ("email.clicked", "Email link clicked"),
    "bounce": ("email.bounced", "Email bounced"),
    "dropped": ("email.bounced", "Email dropped"),
    "spamreport": ("email.spam_reported", "Email reported as spam"),
    "unsubscribe": ("email.unsubscribed", "Unsubscribed"),
    "group_unsubscribe": ("email.unsubscribed", "Unsubscribed from a group"),
}
# Fields that become columns of the event rather than attributes.
COLUMNS = ("email", "timestamp", "event", "sg_event_id")
# SendGrid names that would collide with the thread-state attributes
# (crm.threads.STATE_ATTRIBUTES) or read badly, renamed in attributes.
RENAMED = {"status": "smtp_status", "type": "bounce_type", "smtp-id": "smtp_id"}
# Campaign identifiers, most specific first: (field, name field, thread prefix).
CAMPAIGN_FIELDS = (
    ("singlesend_id", "singlesend_name", "singlesend"),
    ("marketing_campaign_id", "marketing_campaign_name", "campaign"),
)


class EventSchema(Schema):
    """One Event Webhook element; fields SendGrid adds (custom args, new
    tracking fields) are kept and end up in the event's attributes."""

    class Meta:
        unknown = INCLUDE

    email = fields.String(required=True, error_messages=REQUIRED)
    timestamp = fields.Integer(required=True, strict=False, error_messages=REQUIRED)
    event = fields.String(required=True, error_messages=REQUIRED)
    sg_event_id = fields.String(required=True, error_messages=REQUIRED)

    @pre_load
    def tidy(self, data, **kwargs):
        data = {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
        for name in ("email", "event", "sg_event_id"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip()
        if isinstance(data.get("event"), str):
            data["event"] = data["event"].lower()
        if isinstance(data.get("sg_event_id"), int):  # not SendGrid's, but harmless
            data["sg_event_id"] = str(data["sg_event_id"])
        return data


@register
class SendGridConnector(Connector):
    """SendGrid email events; the contact's email is the client hint."""

    name = "sendgrid"
    natural_key = ("sg_event_id", "event")
    schema = EventSchema

    def convert(self, data: dict) -> list[CanonicalEvent]:
        event = data["event"]
        if event not in KINDS:
            raise Skip(f"sendgrid event {event!r} is not mapped; mapped: {', '.join(KINDS)}")
        kind, verb = KINDS[event]
        email = data["email"]
        categories = _categories(data.get("category"))
        thread_key, label = _campaign(data, categories)
        attributes = {
            RENAMED.get(name, name): value
            for name, value in data.items()
            if name not in COLUMNS and name != "category" and value is not None
        }
        attributes["sendgrid_event"] = event
        attributes["email"] = email
        if categories:
            attributes["categories"] = categories
        detail = email
        if data.get("reason"):
            detail = f"{email}: {data['reason']}"
        return [
            CanonicalEvent(
                origin=self.name,
                external_id=f"{data['sg_event_id']}:{event}"[:200],
                kind=kind,
                occurred_at=datetime.fromtimestamp(data["timestamp"], UTC),
                hints=ClientHints(emails=(email,)),
                title=f"{verb}: {data.get('subject') or label or email}"[:500],
                detail=detail,
                thread_key=thread_key,
                actor=email,
                url=data.get("url") if event == "click" else None,
                attributes=attributes,
            )
        ]


def _categories(value) -> list[str]:
    """`category` is a string or a list of strings."""
    if isinstance(value, list):
        return [str(item) for item in value if item not in (None, "")]
    return [str(value)] if value not in (None, "") else []


def _campaign(data: dict, categories: list[str]) -> tuple[str | None, str | None]:
    """(thread key, its name): the most specific campaign identifier
    present, else the categories, else none."""
    for id_field, name_field, prefix in CAMPAIGN_FIELDS:
        if data.get(id_field) not in (None, ""):
            key = str(data[id_field])
            return f"{prefix}:{key}"[:200], str(data.get(name_field) or key)
    if categories:
        text = ", ".join(categories)
        return f"category:{text}"[:200], text
    return None, None
