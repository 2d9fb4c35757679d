"""The shapes clients come in and go out in, as the API's JSON (the
directory's query string and rows are in directory_schemas.py; the client
form's flat fields are in forms.py, which loads them into the same shape, so
both go through the same schema and operations)."""

from types import SimpleNamespace

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_dump,
    pre_load,
    validate,
    validates,
)

from crm.clients.operations import is_timezone, slug_problem
from crm.identities import CASELESS_SYSTEMS
from crm.schemas import ClientNameSchema
from crm.vocabulary import CLIENT_STATUSES, GROUP_KINDS, TIERS


def blank_is_none(data, names):
    """Form fields and JSON alike: "" or spaces in an optional text means "none"."""
    if not isinstance(data, dict):
        return data  # the schema reports the wrong type
    data = dict(data)
    for name in names:
        value = data.get(name)
        if isinstance(value, str):
            data[name] = value.strip() or None
    return data


def optional_text(max_length: int | None = None, **kwargs):
    checks = [validate.Length(max=max_length)] if max_length else []
    return fields.String(allow_none=True, validate=checks, **kwargs)


# --- groups, contacts, identities --------------------------------------------------


class ClientGroupSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(GROUP_KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))

    @pre_load
    def tidy(self, data, **kwargs):
        data = blank_is_none(data, ("name",))
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            data["kind"] = data["kind"].strip().lower()
        return data


class ClientContactSchema(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "Give it to update a contact"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = optional_text(40)
    role = optional_text(120)

    @pre_load
    def tidy(self, data, **kwargs):
        return blank_is_none(data, ("name", "email", "phone", "role"))

    @post_load
    def lower_email(self, data, **kwargs):
        if data.get("email"):
            data["email"] = data["email"].lower()
        return data


class ClientIdentitySchema(Schema):
    system = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=40),
            validate.Regexp(r"^[a-z0-9_.-]+$", error="use letters, digits, '.', '_' or '-'"),
        ],
        metadata={"description": "stripe, zendesk, salesforce, alert, domain, account, ..."},
    )
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))

    @pre_load
    def tidy(self, data, **kwargs):
        data = blank_is_none(data, ("system", "key"))
        if isinstance(data, dict) and isinstance(data.get("system"), str):
            data["system"] = data["system"].lower()
            if data["system"] in CASELESS_SYSTEMS and isinstance(data.get("key"), str):
                data["key"] = data["key"].lower()
        return data


# --- clients ----------------------------------------------------------------------

# Fields where "" (an empty box) means "none"; a date included.
_TEXT_FIELDS = (
    "slug",
    "name",
    "industry",
    "country",
    "language",
    "timezone",
    "account_manager",
    "account_manager_id",
    "customer_since",
    "notes",
)


NAME_REQUIRED = {"required": "A client needs a name.", "null": "A client needs a name."}


class ClientInSchema(Schema):
    """A client as created (POST); ClientPatchSchema takes any part of it."""

    slug = fields.String(
        allow_none=True,
        metadata={"description": "Derived from the name when not given (on create)"},
    )
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), error_messages=NAME_REQUIRED
    )
    tier = fields.String(validate=validate.OneOf(TIERS))
    industry = optional_text(80)
    country = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z]{2}$", error="use a two-letter ISO 3166 code, e.g. PT"),
    )
    language = optional_text(16)
    timezone = fields.String(
        error_messages={"null": "A time zone is required, e.g. Europe/Lisbon."},
        metadata={"description": "An IANA time zone, e.g. Europe/Lisbon"},
    )
    account_manager_id = fields.Integer(
        allow_none=True,
        strict=False,
        validate=validate.Range(min=1, max=2**31 - 1, error="is not an account id"),
        metadata={"description": "The account manager: an active user account's id (null: nobody)"},
    )
    account_manager = fields.String(
        allow_none=True,
        validate=validate.Length(max=254),
        metadata={
            "description": "Or the account manager by an active account's e-mail address or "
            "name; refused when it names none (account_manager_id wins when both are given)"
        },
    )
    customer_since = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(CLIENT_STATUSES))
    notes = optional_text()
    groups = fields.List(fields.Nested(ClientGroupSchema))
    contacts = fields.List(fields.Nested(ClientContactSchema))
    identities = fields.List(fields.Nested(ClientIdentitySchema))

    @pre_load
    def tidy(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        data = blank_is_none(data, _TEXT_FIELDS)
        if isinstance(data.get("country"), str):
            data["country"] = data["country"].upper()
        return data

    @validates("slug")
    def check_slug(self, value, **kwargs):
        problem = value and slug_problem(value)
        if problem:
            raise ValidationError(problem)

    @validates("timezone")
    def check_timezone(self, value, **kwargs):
        if not is_timezone(value):
            raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Lisbon)")


class ClientPatchSchema(ClientInSchema):
    """Any part of a client (PATCH): lists given replace the client's list;
    contacts with an `id` update that contact."""

    name = fields.String(validate=validate.Length(min=1, max=200), error_messages=NAME_REQUIRED)


class ClientContactOutSchema(ClientContactSchema):
    id = fields.Integer()


class IdentityNameSchema(Schema):
    """How an answer names an identity: the system and that system's key for
    a client (a Stripe customer id, a domain), as a client's identities and
    an unmatched record's hints hold them."""

    system = fields.String()
    key = fields.String()


class ClientIdentityOutSchema(IdentityNameSchema):
    key = fields.String(attribute="external_key")


class ClientOutSchema(ClientNameSchema):
    industry = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    timezone = fields.String()
    account_manager = fields.String(
        allow_none=True,
        metadata={"description": "The manager's name: their account's, else as given unmatched"},
    )
    account_manager_id = fields.Integer(allow_none=True)
    account_manager_email = fields.String(allow_none=True)
    account_manager_unmatched = fields.Boolean(
        metadata={"description": "True: the name matches no account yet (/admin/managers)"}
    )
    customer_since = fields.Date(allow_none=True)
    status = fields.String()
    notes = fields.String(allow_none=True)
    created_at = fields.DateTime()
    groups = fields.List(fields.Nested(ClientGroupSchema))
    contacts = fields.List(fields.Nested(ClientContactOutSchema))
    identities = fields.List(fields.Nested(ClientIdentityOutSchema))
    url = fields.Function(lambda client: f"/clients/{client.slug}")

    @pre_dump
    def in_stable_order(self, client, **kwargs):
        """The client's fields, with its identities sorted (the table keeps no order)."""
        manager = {
            "account_manager_id": client.manager_id,
            "account_manager_email": client.manager.email if client.manager else None,
            "account_manager_unmatched": client.unmatched_manager is not None,
        }
        values = manager | {
            name: getattr(client, name)
            for name in self.fields
            if name != "url" and name not in manager
        }
        values["identities"] = sorted(
            client.identities, key=lambda identity: (identity.system, identity.external_key)
        )
        return SimpleNamespace(**values)


# --- account managers to assign (crm.clients.managers) ------------------------------


class AssignManagerSchema(Schema):
    account_manager_id = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=1, max=2**31 - 1, error="is not an account id"),
        metadata={"description": "An active user account's id"},
    )


class NeedingManagerSchema(ClientNameSchema):
    unmatched_manager = fields.String(
        allow_none=True,
        metadata={"description": "The manager's name as given, which matches no active account"},
    )
    account_manager_id = fields.Integer(attribute="manager_id", allow_none=True)
    account_manager_email = fields.Function(
        lambda client: client.manager.email if client.manager else None,
        metadata={"description": "A deactivated account that manages the client"},
    )
