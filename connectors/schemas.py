"""What the ingest pages and API accept and answer, as marshmallow schemas."""

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, fields, pre_load
from marshmallow.validate import Length, OneOf

from crm.clients.schemas import ClientIdentityOutSchema, IdentityNameSchema
from crm.models.inbox import INBOX_STATUSES
from crm.paging import PageArgs, page_fields, page_schema
from crm.schemas import WatchedRunSchema, counts_field, shown_status


class _Lenient(Schema):
    """Query strings and forms carry extra fields (buttons, filters of other
    parts of the page); they are not errors."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _blank_is_missing(self, data, **kwargs):
        # A filter left empty in a GET form arrives as "", which means "any".
        return {name: value for name, value in data.items() if value not in ("", None)}


class ReviewPageArgs(_Lenient, PageArgs):
    per_page = page_fields(per_page=25)["per_page"]


class UnmatchedArgs(ReviewPageArgs):
    system = fields.String(validate=Length(max=40))
    q = fields.String(validate=Length(max=200), metadata={"description": "part of the key"})


class UnmatchedRecordArgs(ReviewPageArgs):
    system = fields.String(validate=Length(max=40))
    key = fields.String(validate=Length(max=254))
    connector = fields.String(validate=Length(max=40))


class IngestRunArgs(ReviewPageArgs):
    connector = fields.String(validate=Length(max=40))


class IngestRunRecordArgs(ReviewPageArgs):
    status = fields.String(validate=OneOf(INBOX_STATUSES))


class MappedIdentityArgs(ReviewPageArgs):
    system = fields.String(validate=Length(max=40))
    client = fields.String(validate=Length(max=80), metadata={"description": "client slug"})


class MapIdentityBody(Schema):
    system = fields.String(required=True, validate=Length(min=1, max=40))
    key = fields.String(required=True, validate=Length(min=1, max=200))
    client = fields.String(
        required=True, validate=Length(min=1, max=80), metadata={"description": "client slug"}
    )


class MapHintForm(_Lenient):
    """The queue's form: a suggested client (radio) or another one typed in,
    by slug or name; the typed one wins when both are given."""

    system = fields.String(required=True, validate=Length(min=1, max=40))
    key = fields.String(required=True, validate=Length(min=1, max=200))
    client = fields.String(
        required=True,
        validate=Length(min=1, max=200),
        error_messages={"required": "choose a client to map it to"},
    )

    @pre_load
    def _typed_client_wins(self, data, **kwargs):
        data = dict(data)
        other = (data.pop("other_client", "") or "").strip()
        if other:
            data["client"] = other
        return data


class ReplayEdit(Schema):
    record = fields.Dict(
        metadata={"description": "the record as it should be read; omit to replay it as stored"}
    )


class IngestFileUpload(Schema):
    file = Upload(required=True, metadata={"description": "a .csv, .json or .ndjson file"})


# --- answers -------------------------------------------------------------------


class InboxHintSchema(IdentityNameSchema):
    """An identity an unmatched record names, which no client holds yet."""


class InboxRecordSchema(Schema):
    id = fields.Integer()
    run_id = fields.Integer()
    connector = fields.String()
    position = fields.Integer()
    locator = fields.String()
    status = fields.String()
    field = fields.String(allow_none=True)
    reason = fields.String()
    natural_key = fields.String(allow_none=True)
    record = fields.Raw()
    hints = fields.List(fields.Nested(InboxHintSchema))
    created_at = fields.DateTime()
    replayed_at = fields.DateTime(allow_none=True)


class ClientSuggestionSchema(Schema):
    client = fields.String(attribute="slug")
    name = fields.String()
    score = fields.Float(metadata={"description": "0..1; 1 is an exact match"})
    reasons = fields.List(fields.String())


class HintGroupSchema(InboxHintSchema):
    label = fields.String()
    records = fields.Integer(metadata={"description": "unmatched records naming this hint"})
    first_seen = fields.DateTime()
    last_seen = fields.DateTime()
    connectors = fields.List(fields.String())
    sample = fields.Nested(InboxRecordSchema, allow_none=True)
    suggestions = fields.List(fields.Nested(ClientSuggestionSchema))


class RunCountsSchema(Schema):
    """What a run did with its records, counted alike wherever a run is shown."""

    total = fields.Integer()
    accepted = fields.Integer()
    duplicate = fields.Integer()
    skipped = fields.Integer()
    rejected = fields.Integer()
    unmatched = fields.Integer()


class IngestRunSchema(RunCountsSchema, WatchedRunSchema):
    run_id = fields.Integer(attribute="id")
    connector = fields.String()
    status = shown_status(
        ["running", "finished", "failed"], "ingest the same file again to complete it"
    )
    source_name = fields.String(allow_none=True)
    started_at = fields.DateTime()
    warning = fields.String(
        allow_none=True,
        metadata={"description": "Set when a finished run found no records in its file"},
    )


class IngestSummarySchema(RunCountsSchema):
    """As `flask ingest --json` prints it."""

    run_id = fields.Integer()
    connector = fields.String()
    status = fields.String()
    warning = fields.String(
        metadata={"description": "Only when the file held no records: nothing was imported"}
    )


class MappedIdentitySchema(ClientIdentityOutSchema):
    client = fields.Function(lambda identity: identity.client.slug)
    client_name = fields.Function(lambda identity: identity.client.name)
    created_at = fields.DateTime()


class ReplaySummarySchema(Schema):
    replayed = fields.Integer(metadata={"description": "records now on the timeline"})
    rejected = fields.Integer()
    skipped = fields.Integer()
    still_waiting = fields.Integer(metadata={"description": "unmatched records still naming it"})
    runs = fields.List(fields.Nested(IngestRunSchema))


class IdentityMappingSchema(Schema):
    identity = fields.Nested(MappedIdentitySchema)
    replay = fields.Nested(ReplaySummarySchema)
    message = fields.String(metadata={"description": "what happened, in a sentence"})


class ReplayResultSchema(Schema):
    outcome = fields.String(metadata={"description": "what became of the record this time"})
    record = fields.Nested(InboxRecordSchema)
    run = fields.Nested(IngestRunSchema)


MappedIdentityPage = page_schema(MappedIdentitySchema, "MappedIdentityPage")
HintGroupPage = page_schema(HintGroupSchema, "HintGroupPage")
InboxRecordPage = page_schema(InboxRecordSchema, "InboxRecordPage")
IngestRunPage = page_schema(IngestRunSchema, "IngestRunPage")


class IngestRunDetailSchema(Schema):
    run = fields.Nested(IngestRunSchema)
    inbox = counts_field("the run's inbox records by their status now")
    records = fields.Nested(InboxRecordPage)


class UnmatchedPageSchema(HintGroupPage):
    waiting = fields.Integer(metadata={"description": "unmatched records, each counted once"})
