"""What a search takes and answers, the same for the page and the API."""

from marshmallow import Schema, fields, validate

from crm.schemas import FormSchema
from crm.search.operations import DEFAULT_LIMIT, KINDS, MAX_LIMIT
from crm.timeline.schemas import _Choices

MAX_QUERY = 200


class SearchQuerySchema(FormSchema):
    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_QUERY),
        metadata={
            "description": "What to find: a client's name or slug, a contact's name, e-mail or"
            " phone, an identity key or domain, a ticket id, an invoice number, a deal's name or"
            " any words of an event. Every word must match; the last word may be cut short."
            " When nothing matches, client and contact names that look alike do (a typo)."
        },
    )
    kind = _Choices(KINDS, "kind", metadata={"description": "Kinds of hits to return (all)."})
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": "The most hits of each kind."},
    )


class SearchClientSchema(Schema):
    slug = fields.String()
    name = fields.String()


class SearchHitSchema(Schema):
    kind = fields.String(metadata={"description": f"One of {', '.join(KINDS)}."})
    client = fields.Nested(SearchClientSchema, metadata={"description": "The hit's client."})
    title = fields.String()
    detail = fields.String(allow_none=True)
    url = fields.String(metadata={"description": "The page this hit opens."})
    thread_type = fields.String(allow_none=True)
    thread_key = fields.String(allow_none=True)
    occurred_at = fields.DateTime(allow_none=True)
    score = fields.Float(metadata={"description": "Rank within its kind: higher is better."})


class SearchResultsSchema(Schema):
    query = fields.String()
    hits = fields.List(
        fields.Nested(SearchHitSchema),
        metadata={"description": "Grouped by kind (clients first), best first within each."},
    )
