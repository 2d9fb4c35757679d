"""The client form: the page posts flat fields (the client's own, `groups` as
lines of "kind: name", and numbered rows `contacts-N-name`,
`identities-N-key`, ... with a `remove` box each and blank rows for adding).
ClientFormSchema loads them into the API's shape (crm.clients.schemas); its
errors name the form's own fields and rows."""

import re
from dataclasses import dataclass

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from crm.clients.schemas import (
    NAME_REQUIRED,
    ClientInSchema,
    blank_is_none,
    optional_text,
)
from crm.vocabulary import CLIENT_STATUSES, GROUP_KINDS, TIERS

_ROW_FIELD = re.compile(r"^(contacts|identities)-(\d+)-(\w+)$")


def split_form_rows(form) -> tuple[dict, dict[str, list[dict]]]:
    """The form's own fields, and its numbered rows in row order:
    contacts-0-name=... -> {"contacts": [{"name": ...}, ...], "identities": [...]}."""
    flat: dict = {}
    numbered: dict[str, dict[int, dict]] = {"contacts": {}, "identities": {}}
    for key, value in form.items():
        match = _ROW_FIELD.match(key)
        if match:
            numbered[match[1]].setdefault(int(match[2]), {})[match[3]] = value
        else:
            flat[key] = value
    rows = {
        name: [by_number.get(n, {}) for n in range(max(by_number, default=-1) + 1)]
        for name, by_number in numbered.items()
    }
    return flat, rows


class GroupLines(fields.Field):
    """Groups typed one a line, "industry: Dental"; errors name the line."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("type one group a line, as kind: name")
        groups, problems = [], []
        for number, line in enumerate(value.splitlines(), start=1):
            if not line.strip():
                continue
            kind, colon, name = line.partition(":")
            kind, name = kind.strip().lower(), name.strip()
            if not colon or not kind or not name:
                problems.append(f"line {number}: {line.strip()!r} is not kind: name")
            elif kind not in GROUP_KINDS:
                problems.append(
                    f"line {number}: {kind!r} is not a kind of group ({', '.join(GROUP_KINDS)})"
                )
            elif len(name) > 120:
                problems.append(f"line {number}: the name is longer than 120 characters")
            else:
                groups.append({"kind": kind, "name": name})
        if problems:
            raise ValidationError(problems)
        return groups


class _FormRowSchema(Schema):
    """A row of the form: blank rows and rows marked `remove` are dropped."""

    remove = fields.Boolean(load_default=False)

    @pre_load
    def tidy(self, data, **kwargs):
        return blank_is_none(data, [name for name in data if name != "remove"])

    @staticmethod
    def keeps(row: dict) -> bool:
        values = {k: v for k, v in row.items() if k not in ("remove", "id")}
        return not row["remove"] and any(v is not None for v in values.values())


class ContactRowSchema(_FormRowSchema):
    id = fields.Integer(allow_none=True)
    name = optional_text(200)
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = optional_text(40)
    role = optional_text(120)

    @validates_schema
    def named(self, data, **kwargs):
        if self.keeps(data) and not data.get("name"):
            raise ValidationError("a contact needs a name", "name")


class IdentityRowSchema(_FormRowSchema):
    system = optional_text(40)
    key = optional_text(200)

    @validates_schema
    def complete(self, data, **kwargs):
        if self.keeps(data):
            for name in ("system", "key"):
                if not data.get(name):
                    raise ValidationError("is required", name)


@dataclass
class ClientFormInput:
    """The form as the operations take it, and where each list item came from."""

    payload: dict
    rows: dict[str, list[int]]  # "contacts" -> form row of each payload contact

    def form_field(self, field: str) -> str:
        """An operation's field ("contacts.1.email") as the form names it
        ("contacts.3.email"); a group's becomes the whole "groups" box."""
        head, _, rest = field.partition(".")
        if head == "groups":
            return "groups"
        if head in self.rows and rest:
            index, _, tail = rest.partition(".")
            if index.isdigit() and int(index) < len(self.rows[head]):
                row = self.rows[head][int(index)]
                return f"{head}.{row}" + (f".{tail}" if tail else "")
        return field


class ClientFormSchema(ClientInSchema):
    class Meta:
        unknown = EXCLUDE  # the submit button, a CSRF token one day
        # The page chooses the manager from the active accounts, by id.
        exclude = ("account_manager",)

    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), error_messages=NAME_REQUIRED
    )
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    timezone = fields.String(
        required=True, error_messages={"null": "A time zone is required, e.g. Europe/Lisbon."}
    )
    status = fields.String(required=True, validate=validate.OneOf(CLIENT_STATUSES))
    groups = GroupLines(load_default=list)
    contacts = fields.List(fields.Nested(ContactRowSchema), load_default=list)
    identities = fields.List(fields.Nested(IdentityRowSchema), load_default=list)

    @pre_load
    def rows(self, data, **kwargs):
        flat, rows = split_form_rows(data)
        return flat | {name: listed for name, listed in rows.items() if listed}

    @post_load
    def as_input(self, data, **kwargs) -> ClientFormInput:
        rows = {}
        for name, schema in (("contacts", ContactRowSchema), ("identities", IdentityRowSchema)):
            kept = [(n, row) for n, row in enumerate(data[name]) if schema.keeps(row)]
            rows[name] = [n for n, _ in kept]
            data[name] = [{k: v for k, v in row.items() if k != "remove"} for _, row in kept]
        return ClientFormInput(payload=data, rows=rows)


def error_messages(errors, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested errors as {"contacts.2.email": "Not a valid email address."}."""
    flat: dict[str, str] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            for field_name, message in error_messages(value, name).items():
                flat.setdefault(field_name, message)
    elif isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        flat[prefix] = " ".join(errors)
    elif isinstance(errors, str):
        flat[prefix] = errors
    return flat
