"""What every Zendesk record shares: its ids, its times, the statuses a
ticket can have, and the id of a ticket's version at a moment (which the
tickets and the ticket events both give, so that the same change seen
through both is one event)."""

from marshmallow import ValidationError, fields

from connectors.base import Skip
from connectors.fields import parse_datetime

OPEN_STATUSES = ("new", "open", "pending", "hold")
RESOLVED_STATUSES = ("solved", "closed")
REQUESTER_SYSTEM = "zendesk-user"


class ZendeskId(fields.Field):
    """An id as the API sends it (a number) or a webhook does (text); for an
    optional reference "" and 0 mean none, as placeholders and event webhooks
    write it."""

    vendor = "Zendesk"

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError(f"is not a {self.vendor} id")
        text = str(value).strip()
        if text in ("", "0") and not self.required:
            return None
        if not text.isdigit() or len(text) > 30:
            raise ValidationError(f"{text!r} is not a {self.vendor} id")
        return text


class Time(fields.Field):
    """ISO 8601, as Zendesk writes its times; always timezone-aware."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_datetime(value)
        except (TypeError, ValueError, AttributeError):
            raise ValidationError("is not an ISO 8601 date or time") from None


def kind_of(ticket_id: str, status: str, creation: bool) -> str:
    """The kind of the event a ticket's version is: opened (its creation),
    updated while open, resolved once solved or closed; Skip for a status
    Touchline does not map."""
    if status in OPEN_STATUSES:
        return "ticket.opened" if creation else "ticket.updated"
    if status in RESOLVED_STATUSES:
        return "ticket.resolved"
    raise Skip(
        f"zendesk ticket {ticket_id} status {status!r} is not mapped; "
        f"mapped: {', '.join(OPEN_STATUSES + RESOLVED_STATUSES)}"
    )


def version_id(ticket_id: str, at) -> str:
    """The id of the ticket as it stood at `at`: what its update then was called."""
    return f"{ticket_id}@{at.isoformat().replace('+00:00', 'Z')}"
