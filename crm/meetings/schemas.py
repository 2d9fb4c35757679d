"""What crosses the boundary of the meeting pages and API, in and out.

Times follow the timeline's forms (crm.timeline.schemas.LocalDateTime): with
an offset they are that instant, without one the client's wall-clock time,
made aware with `in_zone` once the client is known.
"""

from marshmallow import Schema, ValidationError, fields, validate

from crm.meetings.models import MEETING_KINDS, MEETING_STATUSES
from crm.schemas import FormSchema
from crm.timeline.schemas import LocalDateTime, in_zone


class _Attendees(fields.Field):
    """A list of "Name <email>" strings or {"email", "name"} objects, or one
    text of them separated by commas or lines (the form's textarea)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str | dict) for v in value):
            return value
        raise ValidationError("must be a list of e-mail addresses or {email, name} objects")


class MeetingInSchema(FormSchema):
    kind = fields.String(load_default="roadmap", validate=validate.OneOf(tuple(MEETING_KINDS)))
    title = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "What the meeting is; the kind's name if left out."},
    )
    starts_at = LocalDateTime(
        required=True,
        metadata={"description": "When it starts; without an offset, in the client's time zone."},
    )
    ends_at = LocalDateTime(metadata={"description": "When it ends (optional)."})
    attendees = _Attendees(
        metadata={"description": 'Ours and theirs: ["Ana <ana@client.pt>", ...].'}
    )
    agenda = fields.String(validate=validate.Length(max=20_000))
    owner = fields.Email(metadata={"description": "The account manager's e-mail (optional)."})


class ActionItemSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    owner = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Who will do it."},
    )
    due_at = LocalDateTime(
        required=True, metadata={"description": "Without an offset, in the client's time zone."}
    )


class MeetingLogSchema(FormSchema):
    """Signed by the account the request speaks for (an `actor` sent is ignored)."""

    notes = fields.String(validate=validate.Length(max=20_000))
    outcome = fields.String(validate=validate.Length(max=5_000))
    action_items = fields.List(fields.Nested(ActionItemSchema), load_default=list)


class AttendeeSchema(Schema):
    email = fields.String()
    name = fields.String(allow_none=True)
    ours = fields.Boolean()


class ActionItemOutSchema(Schema):
    title = fields.String()
    owner = fields.String()
    due_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    key = fields.String(metadata={"description": "The commitment's key."})


class MeetingSchema(Schema):
    id = fields.Integer()
    client = fields.Function(lambda m: m.client.slug)
    kind = fields.String(metadata={"enum": list(MEETING_KINDS)})
    title = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    attendees = fields.List(fields.Nested(AttendeeSchema))
    agenda = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    action_items = fields.List(fields.Nested(ActionItemOutSchema))
    status = fields.String(metadata={"enum": list(MEETING_STATUSES)})
    owner = fields.String(allow_none=True)
    origin = fields.String()
    logged_at = fields.DateTime(allow_none=True)
    logged_by = fields.String(allow_none=True)
    event_id = fields.Integer(allow_none=True)


class MeetingListSchema(Schema):
    items = fields.List(fields.Nested(MeetingSchema))


def localised(data: dict, zone) -> dict:
    """`data` with its times (and its action items' due times) made aware:
    one without an offset is read in `zone`, the client's."""
    data = dict(data)
    for name in ("starts_at", "ends_at"):
        if name in data:
            data[name] = in_zone(data[name], zone)
    if "action_items" in data:
        data["action_items"] = [
            dict(item, due_at=in_zone(item["due_at"], zone)) for item in data["action_items"]
        ]
    return data
