"""The `clients` connector: a client list with tiers, groups, contacts, identities.

In CSV the list-valued columns use small inline syntaxes (see docs/formats.md):
  groups      industry:Healthcare; product:Backup
  contacts    Ana Lima | ana@acme.example | +55 11 5555 0100 | IT lead; Bo Chen | bo@...
  identities  stripe:cus_9x; zendesk:3741; domain:acme.example
JSON takes the same strings, or lists of objects.
"""

import re
import zoneinfo

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from connectors.base import ClientProfile, Connector, ContactProfile
from connectors.fields import KnownFieldsSchema
from connectors.registry import register
from crm.vocabulary import CLIENT_STATUSES, GROUP_KINDS, TIERS

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def _pair(text: str, what: str, field: str) -> dict:
    first, colon, rest = text.partition(":")
    if not colon or not first.strip() or not rest.strip():
        raise ValidationError(f"{text!r} is not {what}", field_name=field)
    return {"first": first.strip(), "rest": rest.strip()}


class GroupSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(GROUP_KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class ContactSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    role = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))


class IdentitySchema(Schema):
    system = fields.String(required=True, validate=validate.Length(min=1, max=40))
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))


def _timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{name!r} is not an IANA time zone") from None


class ClientRecordSchema(KnownFieldsSchema):
    slug = fields.String(
        required=True,
        validate=[
            validate.Length(max=80),
            validate.Regexp(SLUG, error="use lower-case letters, digits and dashes"),
        ],
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    tier = fields.String(load_default="new", validate=validate.OneOf(TIERS))
    industry = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=80))
    country = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"[A-Z]{2}", error="use a two-letter ISO 3166 code"),
    )
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    timezone = fields.String(load_default="UTC", validate=_timezone)
    account_manager = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=120)
    )
    customer_since = fields.Date(load_default=None, allow_none=True)
    status = fields.String(load_default="active", validate=validate.OneOf(CLIENT_STATUSES))
    notes = fields.String(load_default=None, allow_none=True)
    groups = fields.List(fields.Nested(GroupSchema), load_default=list)
    contacts = fields.List(fields.Nested(ContactSchema), load_default=list)
    identities = fields.List(fields.Nested(IdentitySchema), load_default=list)

    @pre_load
    def from_flat(self, data, **kwargs):
        """Blank CSV cells mean "not given"; inline lists become objects."""
        data = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}
        data = {k: v for k, v in data.items() if v not in ("", None)}
        if isinstance(data.get("country"), str):
            data["country"] = data["country"].upper()
        if isinstance(data.get("groups"), str):
            data["groups"] = [
                {"kind": p["first"].lower(), "name": p["rest"]}
                for p in map(lambda g: _pair(g, "kind:name", "groups"), _split(data["groups"], ";"))
            ]
        if isinstance(data.get("identities"), str):
            data["identities"] = [
                {"system": p["first"].lower(), "key": p["rest"]}
                for p in map(
                    lambda i: _pair(i, "system:key", "identities"), _split(data["identities"], ";")
                )
            ]
        if isinstance(data.get("contacts"), str):
            data["contacts"] = [_contact(text) for text in _split(data["contacts"], ";")]
        return data


def _contact(text: str) -> dict:
    parts = [part.strip() or None for part in text.split("|")]
    if len(parts) > 4 or not parts[0]:
        raise ValidationError(f"{text!r} is not 'name | email | phone | role'", "contacts")
    parts += [None] * (4 - len(parts))
    return dict(zip(("name", "email", "phone", "role"), parts, strict=True))


@register
class ClientsConnector(Connector):
    """Client master data; written by slug, so re-importing updates in place."""

    name = "clients"
    natural_key = ("slug",)
    schema = ClientRecordSchema
    default_format = "csv"

    def convert(self, data: dict) -> list[ClientProfile]:
        return [
            ClientProfile(
                **{k: v for k, v in data.items() if k not in ("groups", "contacts", "identities")},
                groups=[(g["kind"], g["name"]) for g in data["groups"]],
                contacts=[ContactProfile(**c) for c in data["contacts"]],
                identities=[(i["system"], i["key"]) for i in data["identities"]],
            )
        ]
