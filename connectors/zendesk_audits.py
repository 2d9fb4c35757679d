"""Zendesk's ticket events: how a ticket's status moved, change by change.

Read from the incremental ticket event export (`GET /api/v2/incremental/
ticket_events`: `{"ticket_events": [...]}`, each an update of one ticket with
its `child_events`) and from the Ticket Audits API (`{"audits": [...]}`,
each with its `events`). A ticket says only how it stands
now: one solved and reopened between two exports looks as if it never
closed. Each status change here is the ticket's version at that moment, with
the id that version has (`ID@time`, zendesk_fields.version_id), so the same
change seen through a ticket and through its event is one event.

A change names its ticket, not its organization: it finds the client through
the ticket (identity `zendesk-ticket ID`, which every ticket registers once it
is placed) and waits as unmatched until then. The two shapes name a change
differently, as Zendesk documents them: the export's child event carries the
field as its own key (`"status": "solved"` beside `previous_value`), an
audit's event names it (`"field_name": "status", "value": "solved"`). An
update that changes no status (a comment, a tag, an assignee) is skipped,
saying so.
"""

from datetime import UTC, datetime

from marshmallow import ValidationError, fields

from connectors.base import CanonicalEvent, RecordError, Skip
from connectors.fields import REQUIRED, KnownFieldsSchema
from connectors.zendesk_fields import (
    Time,
    ZendeskId,
    kind_of,
    version_id,
)
from crm.identities import ClientHints, link_system

TICKET_SYSTEM = link_system("zendesk-ticket")
CHANGES = ("Create", "Change")


class TicketEventSchema(KnownFieldsSchema):
    id = ZendeskId(required=True, error_messages=REQUIRED)
    ticket_id = ZendeskId(required=True, error_messages=REQUIRED)
    created_at = Time(load_default=None, allow_none=True)
    # The export's epoch seconds, where `created_at` is left out.
    timestamp = fields.Integer(strict=True, load_default=None, allow_none=True)
    updater_id = ZendeskId(load_default=None, allow_none=True)
    author_id = ZendeskId(load_default=None, allow_none=True)
    child_events = fields.List(fields.Raw(), load_default=None, allow_none=True)
    events = fields.List(fields.Raw(), load_default=None, allow_none=True)


def ticket_event_events(raw: dict) -> list[CanonicalEvent]:
    """The status change one ticket event or audit records, as an event of its ticket."""
    try:
        data = TicketEventSchema().load(raw)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        message = messages[0] if isinstance(messages, list) else str(messages)
        raise RecordError(f"ticket_event.{field}", message) from None
    ticket_id, event_id = data["ticket_id"], data["id"]
    when = _when(data)
    change = _status_change(data["child_events"] or data["events"] or [])
    if change is None:
        raise Skip(
            f"zendesk ticket event {event_id} of ticket {ticket_id} changes no status "
            "(comments and other fields are not mapped)"
        )
    status, previous, created = change
    kind = kind_of(ticket_id, status, creation=created or status == "new")
    return [
        CanonicalEvent(
            origin="zendesk",
            external_id=version_id(ticket_id, when),
            kind=kind,
            occurred_at=when,
            hints=ClientHints(identities=((TICKET_SYSTEM, ticket_id),)),
            title=f"Zendesk ticket #{ticket_id}",
            detail=f"Status {previous} to {status}" if previous else f"Status {status}",
            thread_key=ticket_id,
            attributes={
                "zendesk_status": status,
                "previous_status": previous,
                "ticket_event_id": event_id,
                "updater_id": data["updater_id"] or data["author_id"],
            },
            status=status if kind != "ticket.resolved" else None,
        )
    ]


def _when(data: dict) -> datetime:
    if data["created_at"] is not None:
        return data["created_at"]
    if data["timestamp"] is None:
        raise RecordError("ticket_event.created_at", "is required (or timestamp)")
    try:
        return datetime.fromtimestamp(data["timestamp"], UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordError("ticket_event.timestamp", "is not a time in seconds") from None


def _status_change(children: list) -> tuple[str, str | None, bool] | None:
    """(new status, previous status, whether the ticket was created) of the
    update's status change, in either shape; None when it changes no status."""
    for child in children:
        if not isinstance(child, dict):
            continue
        if (child.get("event_type") or child.get("type")) not in CHANGES:
            continue
        if child.get("field_name") == "status":
            value = child.get("value")
        elif "status" in child:
            value = child["status"]
        else:
            continue
        if not isinstance(value, str) or not value.strip():
            raise RecordError("ticket_event.child_events.status", "is not a status")
        previous = child.get("previous_value")
        previous = previous.strip().lower() if isinstance(previous, str) and previous else None
        created = (child.get("event_type") or child.get("type")) == "Create"
        return value.strip().lower(), previous, created
    return None
