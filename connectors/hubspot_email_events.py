"""HubSpot's marketing email events (the Email Events API,
`GET /email/public/v1/events`: `{"events": [...], "hasMore", "offset"}`), as
campaign events on the timeline, like SendGrid's: one per event `id`, at
`created` (epoch milliseconds), for the client its `recipient` names (a
contact with that address, else an identity of it or its domain), on the
thread of its campaign (`emailCampaignId`).
"""

from datetime import UTC, datetime

from connectors.base import CanonicalEvent, RecordError, Skip
from crm.identities import ClientHints

KINDS = {
    "SENT": "campaign.sent",
    "DELIVERED": "email.delivered",
    "OPEN": "email.opened",
    "CLICK": "email.clicked",
    "BOUNCE": "email.bounced",
    "SPAMREPORT": "email.spam_reported",
}


def is_email_event(data: dict) -> bool:
    return "recipient" in data and "type" in data and "properties" not in data


def email_event(data: dict) -> list[CanonicalEvent]:
    event_id = data.get("id")
    if not isinstance(event_id, str | int) or isinstance(event_id, bool) or event_id == "":
        raise RecordError("id", "is required")
    kind = KINDS.get(str(data.get("type")).upper())
    if str(data.get("type")).upper() == "STATUSCHANGE" and _unsubscribed(data):
        kind = "email.unsubscribed"
    if kind is None:
        raise Skip(
            f"hubspot email event type {data.get('type')!r} is not mapped; "
            f"mapped: {', '.join(KINDS)}, STATUSCHANGE to unsubscribed"
        )
    recipient = data.get("recipient")
    if not isinstance(recipient, str) or "@" not in recipient:
        raise RecordError("recipient", "is required: the address the email went to")
    created = data.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or created <= 0:
        raise RecordError("created", f"{created!r} is not a time in epoch milliseconds")
    campaign = data.get("emailCampaignId")
    url = data.get("url") if kind == "email.clicked" and isinstance(data.get("url"), str) else None
    return [
        CanonicalEvent(
            origin="hubspot",
            external_id=f"email-event:{event_id}",
            kind=kind,
            occurred_at=datetime.fromtimestamp(created / 1000, UTC),
            hints=ClientHints(emails=(recipient.strip().lower(),)),
            title=f"Marketing email {kind.split('.')[-1].replace('_', ' ')}: {recipient}"[:500],
            thread_key=f"hubspot-campaign:{campaign}" if campaign not in (None, "") else None,
            url=url,
            attributes={
                "email_campaign_id": campaign,
                "hubspot_type": str(data.get("type")),
                **(
                    {"bounce": data["category"]}
                    if kind == "email.bounced" and data.get("category")
                    else {}
                ),
            },
        )
    ]


def _unsubscribed(data: dict) -> bool:
    """A STATUSCHANGE that unsubscribes the recipient (`change: UNSUBSCRIBED`)."""
    return str(data.get("change") or "").upper() == "UNSUBSCRIBED"
