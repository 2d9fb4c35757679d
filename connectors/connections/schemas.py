"""Connections in and out of JSON (/api/v1/connections), and the form's input.

Credentials go in (write-only, `load_only`) and never come out: a dumped
connection says only which credential fields are set.
"""

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connectors.connections.models import DEFAULT_INTERVAL_MINUTES, STATUSES
from connectors.connections.sources import SOURCES
from connectors.schemas import IngestRunSchema

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")


class NewConnectionSchema(Schema):
    vendor = fields.String(required=True, validate=validate.OneOf(sorted(SOURCES)))
    name = fields.String(
        required=True,
        validate=validate.Regexp(
            NAME, error="lower-case letters, digits, - and _, starting with a letter or digit"
        ),
    )
    base_url = fields.Url(
        load_default=None,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=255),
    )
    credentials = fields.Dict(
        keys=fields.String(validate=validate.Length(max=60)),
        values=fields.String(validate=validate.Length(max=2000)),
        required=True,
        load_only=True,
        metadata={"description": "The vendor's credential fields; never shown again"},
    )
    interval_minutes = fields.Integer(
        load_default=DEFAULT_INTERVAL_MINUTES, validate=validate.Range(min=1, max=7 * 24 * 60)
    )

    @validates_schema(skip_on_field_errors=False)
    def _vendor_fields(self, data, **kwargs):
        """What the vendor needs, named all at once (with any field errors)."""
        source = SOURCES.get(data.get("vendor"))
        if source is None:
            return
        errors = {}
        credentials = data.get("credentials") or {}
        missing = source.missing(credentials)
        if missing:
            errors["credentials"] = [f"{', '.join(missing)} missing"]
        if not data.get("base_url") and source.default_base_url is None:
            errors["base_url"] = [
                f"{data['vendor']} has no default address: give the account's own"
            ]
        if errors:
            raise ValidationError(errors)


class PauseSchema(Schema):
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class ConnectionSchema(Schema):
    id = fields.Integer()
    vendor = fields.String()
    name = fields.String()
    base_url = fields.String()
    interval_minutes = fields.Integer()
    status = fields.String(metadata={"enum": list(STATUSES)})
    status_reason = fields.String(allow_none=True)
    failures = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_run_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    last_sync = fields.Nested(IngestRunSchema, attribute="last_run", allow_none=True)
    cursors = fields.Method("_cursors", metadata={"description": "Each stream's cursor"})

    def _cursors(self, connection):
        return connection.cursors()


class ConnectionTestSchema(Schema):
    ok = fields.Boolean()
    problem = fields.String(
        allow_none=True, metadata={"description": "credentials, permission, unreachable, ..."}
    )
    message = fields.String()
