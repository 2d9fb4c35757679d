"""What crosses the boundary of the timeline pages and API, in and out.

In: the timeline's filters (query string, pages and API alike), a touch, a
commitment, its completion. Times typed into a form have no offset and are in
the client's time zone (the forms say so); the API takes ISO 8601 with an
offset, or without one in the client's zone like the forms. `in_zone` turns
either into an aware datetime once the client is known.

Out: timeline rows go through `timeline_item`, a hand-written serialiser that
gives exactly what TimelineItemSchema documents at a fraction of the cost
(the timeline is the hot path; tests keep the two equal). Everything else
is dumped by its schema.
"""

from datetime import UTC, datetime, tzinfo

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from crm.paging import page_fields
from crm.schemas import Day, FormSchema, ThreadNameSchema, enum_field, exact_amount
from crm.timeline.queries import (
    COMMITMENT_STATES,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    THREAD_LIST_PAGE,
    THREAD_LIST_STATES,
    BadCursor,
    Position,
    TimelineFilter,
)
from crm.timeline.touches import TOUCH_KINDS
from crm.vocabulary import ENTITY_TYPES, KINDS, SOURCES

# --- in --------------------------------------------------------------------------


class _Choices(fields.List):
    """Several values from a closed list: repeated (`?source=a&source=b`) or
    comma-separated (`?source=a,b`); the error names each unknown value."""

    def __init__(self, choices: tuple[str, ...], noun: str, **kwargs):
        # The inner field documents the choices; _deserialize checks them,
        # so that one message names every unknown value.
        super().__init__(fields.String(validate=validate.OneOf(choices)), **kwargs)
        self.choices, self.noun = choices, noun

    def _deserialize(self, value, attr, data, **kwargs):
        values = value if isinstance(value, list | tuple) else [value]
        items = [part.strip() for item in values for part in str(item).split(",")]
        items = list(dict.fromkeys(item for item in items if item))
        unknown = [item for item in items if item not in self.choices]
        if unknown:
            raise ValidationError(
                f"unknown {self.noun} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(self.choices)}"
            )
        return tuple(items)


class _Cursor(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return Position.decode(text)
        except BadCursor as error:
            raise ValidationError(str(error)) from error


class LocalDateTime(fields.DateTime):
    """ISO 8601; with an offset it is that instant, without one it is the
    client's wall-clock time, made aware later by `in_zone`."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip().replace(" ", "T", 1)
        return super()._deserialize(value, attr, data, **kwargs)


def in_zone(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """`moment` as an aware datetime in UTC; a naive one is read in `zone`."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def touch_arguments(data: dict, client_zone: tzinfo, author: str) -> dict:
    """What `log_touch` takes, from a touch as TouchSchema loaded it: the
    page's form and the API's JSON alike (a time without a zone is the
    client's local time), signed by `author`."""
    return {
        "kind": data["kind"],
        "text": data["text"],
        "title": data.get("title"),
        "actor": author,
        "occurred_at": in_zone(data.get("occurred_at"), client_zone),
    }


def commitment_arguments(data: dict, client_zone: tzinfo, author: str) -> dict:
    """What `make_commitment` takes, from CommitmentInSchema's load (form or
    JSON), signed and owned by `author`."""
    return {
        "title": data["title"],
        "due_at": in_zone(data["due_at"], client_zone),
        "actor": author,
        "detail": data.get("detail"),
        "internal": data.get("internal", False),
    }


class ThreadListQuerySchema(FormSchema):
    """Which of a client's threads a list shows (the card's "and N more")."""

    state = fields.String(load_default="open", validate=validate.OneOf(THREAD_LIST_STATES))
    type = fields.String(validate=validate.OneOf(sorted(ENTITY_TYPES)))
    category = fields.String(validate=validate.Length(max=80))
    page = page_fields(THREAD_LIST_PAGE)["page"]
    per_page = page_fields(THREAD_LIST_PAGE)["per_page"]


class TimelineQuerySchema(FormSchema):
    """Filters of a timeline; the same from the page's form and the API."""

    source = _Choices(
        SOURCES, "source", metadata={"description": "Sources to show, e.g. billing,rmm."}
    )
    kind = _Choices(tuple(KINDS), "kind", metadata={"description": "Event kinds to show."})
    since = Day(data_key="from", metadata={"description": "First day to show (UTC), YYYY-MM-DD."})
    until = Day(data_key="to", metadata={"description": "Last day to show (UTC), inclusive."})
    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "Text in the title, detail or actor, in any case."},
    )
    cursor = _Cursor(metadata={"description": "`next_cursor` of the previous page."})
    limit = fields.Integer(
        load_default=PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )

    @validates_schema
    def _days_in_order(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError("is before `from`", "to")

    @post_load
    def _to_filter(self, data, **kwargs):
        filters = TimelineFilter(
            sources=data.get("source", ()),
            kinds=data.get("kind", ()),
            since=data.get("since"),
            until=data.get("until"),
            text=(data.get("q") or "").strip() or None,
        )
        return {"filters": filters, "after": data.get("cursor"), "limit": data["limit"]}


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _required_text(max_length: int, description: str) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(max=max_length), _not_blank],
        metadata={"description": description},
    )


class TouchSchema(FormSchema):
    """Signed by the account the request speaks for: an `actor` sent is ignored,
    so the author cannot be forged."""

    kind = fields.String(required=True, validate=validate.OneOf(TOUCH_KINDS))
    text = _required_text(20_000, "What was said or agreed.")
    title = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "A short title; the first line of the text if left out."},
    )
    occurred_at = LocalDateTime(
        metadata={
            "description": "When it happened (default now); without an offset, "
            "in the client's time zone."
        }
    )


class CommitmentInSchema(FormSchema):
    """Signed, and owned, by the account the request speaks for (an `actor` sent is ignored)."""

    title = _required_text(500, "What we promised.")
    due_at = LocalDateTime(
        required=True,
        metadata={"description": "When it is due; without an offset, in the client's time zone."},
    )
    detail = fields.String(validate=validate.Length(max=20_000))
    internal = fields.Boolean(
        load_default=False,
        metadata={"description": "Ours alone: left out of what the client is shown."},
    )


class CommitmentCompletionSchema(FormSchema):
    """Nothing to send: the account the request speaks for marks it done."""


class CommitmentQuerySchema(FormSchema):
    state = fields.String(load_default="open", validate=validate.OneOf(COMMITMENT_STATES))


# --- out -------------------------------------------------------------------------


class TimelineItemSchema(Schema):
    id = fields.Integer()
    occurred_at = fields.DateTime()
    source = enum_field(SOURCES)
    kind = fields.String()
    title = fields.String()
    detail = fields.String(allow_none=True)
    amount = exact_amount()
    currency = fields.String(allow_none=True)
    status = fields.Function(
        lambda row: event_status(row.kind, row.status),
        metadata={
            "type": "string",
            "nullable": True,
            "description": "The status the event gives its thread, if any.",
        },
    )
    thread_type = fields.String(allow_none=True)
    thread_key = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    url = fields.String(
        allow_none=True, metadata={"description": "The event in its source system."}
    )
    origin = fields.String()
    external_id = fields.String()
    implied_by = fields.String(
        allow_none=True,
        metadata={
            "description": "When the event is a moment another record told of (a ticket's "
            "creation, read from a later update of it): that record's `external_id`."
        },
    )


def event_status(kind: str, status: str | None) -> str | None:
    """The event's own status if it has one ("pending"), else its kind's ("paid")."""
    return status or _KIND_STATUS.get(kind)


_KIND_STATUS = {name: kind.status for name, kind in KINDS.items()}


def timeline_item(row) -> dict:
    """A TIMELINE_COLUMNS row exactly as TimelineItemSchema dumps it, ~10 times faster."""
    (id_, occurred_at, source, kind, title, detail, amount, currency, thread_type,
     thread_key, actor, url, origin, external_id, status, implied_by) = row  # fmt: skip
    return {
        "id": id_,
        "occurred_at": occurred_at.isoformat(),
        "source": source,
        "kind": kind,
        "title": title,
        "detail": detail,
        "amount": None if amount is None else format(amount, "f"),
        "currency": currency,
        "status": status or _KIND_STATUS.get(kind),
        "thread_type": thread_type,
        "thread_key": thread_key,
        "actor": actor,
        "url": url,
        "origin": origin,
        "external_id": external_id,
        "implied_by": implied_by,
    }


class TimelinePageSchema(Schema):
    items = fields.List(fields.Nested(TimelineItemSchema))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next, older page."}
    )


class ThreadStateSchema(ThreadNameSchema):
    status = fields.String()
    title = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    is_open = fields.Boolean()
    due_at = fields.DateTime(allow_none=True)
    amount = exact_amount()
    currency = fields.String(allow_none=True)
    priority = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    sla_due_at = fields.DateTime(allow_none=True)
    last_event_at = fields.DateTime()
    event_count = fields.Integer()


class ThreadDetailSchema(Schema):
    thread_type = enum_field(ENTITY_TYPES)
    key = fields.String()
    state = fields.Nested(ThreadStateSchema, allow_none=True)
    events = fields.List(fields.Nested(TimelineItemSchema))


class CommitmentListSchema(Schema):
    state = fields.String()
    items = fields.List(fields.Nested(ThreadStateSchema))
