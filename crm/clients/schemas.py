"""The shapes clients come in and go out in: the API's JSON and the
directory's query string (the client form's flat fields are in forms.py,
which loads them into the same shape, so both go through the same schema and
operations)."""

from types import SimpleNamespace

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_dump,
    pre_load,
    validate,
    validates,
)

from crm.accounts.requester import current_user_or_none
from crm.clients.filters import (
    DIRECTIONS,
    PER_PAGE,
    SORTS,
    BadGroupSelector,
    DirectoryFilters,
    parse_group_selector,
)
from crm.clients.operations import is_timezone, slug_problem
from crm.identities import CASELESS_SYSTEMS
from crm.paging import page_fields, page_schema
from crm.schemas import MoneyTotalSchema
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


class ClientIdentityOutSchema(Schema):
    system = fields.String()
    key = fields.String(attribute="external_key")


class ClientOutSchema(Schema):
    slug = fields.String()
    name = fields.String()
    tier = fields.String()
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


# --- the directory ----------------------------------------------------------------


class DirectoryQuerySchema(Schema):
    """The directory's filters and order, as a query string."""

    class Meta:
        unknown = EXCLUDE  # a page's query string may carry other things

    q = fields.String(metadata={"description": "Part of the name or slug"})
    tier = fields.List(
        fields.String(validate=validate.OneOf(TIERS)),
        metadata={"description": "Repeat for several tiers"},
    )
    group = fields.String(metadata={"description": "A group id, or kind:name (industry:Dental)"})
    account_manager = fields.String(
        metadata={"description": "The account manager's name (matched or not), case aside"}
    )
    manager = fields.String(
        validate=validate.Regexp(r"^(me|[1-9][0-9]{0,9})$", error="is me or an account id"),
        metadata={
            "description": "The account managing the clients: its id, or `me` for the "
            "signed-in account's own clients"
        },
    )
    flagged = fields.Boolean(
        metadata={"description": "true: only clients with open flags; false: only those without"}
    )
    status = fields.String(validate=validate.OneOf(CLIENT_STATUSES))
    meeting_overdue = fields.Boolean(
        metadata={
            "description": "true: only clients overdue for a roadmap meeting by their "
            "tier's cadence (TOUCHLINE_MEETING_CADENCE); false: only the others"
        }
    )
    sort = fields.String(validate=validate.OneOf(SORTS), load_default="name")
    direction = fields.String(
        validate=validate.OneOf(DIRECTIONS),
        metadata={"description": "Default: asc for name, desc for the others"},
    )
    page = page_fields(PER_PAGE)["page"]
    per_page = page_fields(PER_PAGE)["per_page"]

    @pre_load
    def drop_blanks(self, data, **kwargs):
        """An empty box of a GET form arrives as "": it is no filter at all."""
        tidy = {}
        for key in data:
            value = data[key]
            if isinstance(value, list):
                value = [v for v in value if isinstance(v, str) and v.strip()] or None
            elif isinstance(value, str):
                value = value.strip() or None
            if value is not None:
                tidy[key] = value
        return tidy

    @validates("group")
    def check_group(self, value, **kwargs):
        try:
            parse_group_selector(value)
        except BadGroupSelector as error:
            raise ValidationError(str(error)) from None

    @post_load
    def as_filters(self, data, **kwargs):
        return filters_from(data)


def filters_from(data: dict) -> DirectoryFilters:
    """DirectoryFilters from loaded (or partly valid) query data."""
    known = {
        "q": data.get("q"),
        "tiers": tuple(data.get("tier") or ()),
        "group": data.get("group"),
        "account_manager": data.get("account_manager"),
        "manager_id": _manager_id(data.get("manager")),
        "flagged": data.get("flagged"),
        "status": data.get("status"),
        "meeting_overdue": data.get("meeting_overdue"),
        "sort": data.get("sort") or "name",
        "direction": data.get("direction"),
        "page": data.get("page") or 1,
        "per_page": data.get("per_page") or PER_PAGE,
    }
    return DirectoryFilters(**known)


def _manager_id(manager: str | None) -> int | None:
    """The account id `manager` names: its digits, or the signed-in
    account's for "me" (0, no account's, when nobody is signed in)."""
    if not manager:
        return None
    if manager == "me":
        user = current_user_or_none()
        return user.id if user is not None else 0
    return int(manager) if manager.isdigit() and int(manager) <= 2**31 - 1 else 0


class OverdueAmountSchema(Schema):
    currency = fields.String(allow_none=True)
    amount = fields.Decimal(as_string=True)


class DirectoryRowSchema(Schema):
    slug = fields.String()
    name = fields.String()
    tier = fields.String()
    status = fields.String()
    account_manager = fields.String(allow_none=True)
    groups = fields.List(fields.Nested(ClientGroupSchema))
    open_tickets = fields.Integer()
    open_disputes = fields.Integer()
    failed_payments = fields.Integer(
        metadata={"description": "Open invoices whose latest payment failed, not yet overdue"}
    )
    overdue = fields.List(
        fields.Nested(OverdueAmountSchema),
        metadata={"description": "Open invoices past due, per currency, largest first"},
    )
    overdue_total = fields.Nested(
        MoneyTotalSchema,
        allow_none=True,
        metadata={"description": "The overdue amounts in the reporting currency (crm.money)"},
    )
    overdue_invoices = fields.Integer(
        metadata={"description": "Open invoices past due (a failed payment on one included)"}
    )
    overdue_commitments = fields.Integer()
    late_tickets = fields.Integer(
        metadata={"description": "Open past their SLA, or open the stale-ticket days (30) or more"}
    )
    critical_alerts = fields.Integer(metadata={"description": "Open alerts of priority critical"})
    recurring_alerts = fields.Integer(
        metadata={"description": "Checks that fired 3+ times on one device in the last 30 days"}
    )
    last_touch = fields.DateTime(allow_none=True)
    last_contact = fields.DateTime(
        allow_none=True,
        metadata={"description": "The last call, meeting or e-mail (campaign) from us"},
    )
    health = fields.Integer(
        metadata={"description": "Health score 0-100 from the open flags, as in the briefing"}
    )
    next_renewal = fields.DateTime(allow_none=True)
    flags = fields.List(
        fields.String(), metadata={"description": "The open flags' names, most pressing first"}
    )
    has_open_flags = fields.Boolean()
    meeting_overdue = fields.Boolean(
        metadata={"description": "No meeting within its tier's cadence (held or planned)"}
    )
    url = fields.Function(lambda row: f"/clients/{row.slug}")


DirectoryPageSchema = page_schema(DirectoryRowSchema, "DirectoryPage")


# --- account managers to assign (crm.clients.managers) ------------------------------


class AssignManagerSchema(Schema):
    account_manager_id = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=1, max=2**31 - 1, error="is not an account id"),
        metadata={"description": "An active user account's id"},
    )


class NeedingManagerSchema(Schema):
    slug = fields.String()
    name = fields.String()
    tier = fields.String()
    unmatched_manager = fields.String(
        allow_none=True,
        metadata={"description": "The manager's name as given, which matches no active account"},
    )
    account_manager_id = fields.Integer(attribute="manager_id", allow_none=True)
    account_manager_email = fields.Function(
        lambda client: client.manager.email if client.manager else None,
        metadata={"description": "A deactivated account that manages the client"},
    )
