"""Client pages: the directory, create and edit."""

from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import ValidationError
from sqlalchemy import select
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

from crm.accounts.audit import ClientState, audit_client_change
from crm.clients.directory import client_directory, directory_choices
from crm.clients.directory_schemas import DirectoryQuerySchema, filters_from
from crm.clients.filters import DEFAULT_DIRECTION
from crm.clients.forms import ClientFormSchema, error_messages, split_form_rows
from crm.clients.managers import active_accounts
from crm.clients.operations import (
    ClientInputError,
    all_timezones,
    create_client,
    update_client,
)
from crm.extensions import db
from crm.flags import LABELS, FlagSettings
from crm.identities import LINK_SYSTEMS
from crm.meetings.cadence import describe_cadence
from crm.models import Client
from crm.models.types import utcnow
from crm.money import current_rates
from crm.vocabulary import CLIENT_STATUSES, GROUP_KINDS, TIERS

bp = Blueprint("clients", __name__)

FORM_FIELDS = (
    "name",
    "slug",
    "tier",
    "status",
    "account_manager_id",
    "industry",
    "country",
    "language",
    "timezone",
    "customer_since",
    "notes",
)
# Empty rows under a client's contacts and identities, to add new ones
# without JavaScript.
BLANK_ROWS = 2
_ROW_COLUMNS = {
    "contacts": ("id", "name", "email", "phone", "role"),
    "identities": ("system", "key"),
}


@bp.get("/clients")
def directory():
    schema = DirectoryQuerySchema()
    errors: dict[str, str] = {}
    try:
        filters = schema.load(MultiDictProxy(request.args, schema))
    except ValidationError as error:
        # Show what was wrong, and the directory without that one filter.
        errors = error_messages(error.messages)
        filters = filters_from(error.valid_data or {})
    now = utcnow()
    settings = FlagSettings.from_config(current_app.config)
    rates = current_rates()
    page = client_directory(
        db.session,
        filters,
        now=now,
        settings=settings,
        rates=rates,
        cadence=current_app.config["MEETING_CADENCE"],
    )

    def link(**changes) -> str:
        args = request.args.to_dict(flat=False)
        args.update({key: value for key, value in changes.items() if value is not None})
        return url_for("clients.directory", **args)

    def sort_link(column: str) -> str:
        if filters.sort == column:
            direction = "asc" if filters.order == "desc" else "desc"
        else:
            direction = DEFAULT_DIRECTION[column]
        return link(sort=column, direction=direction, page=1)

    return render_template(
        "clients/directory.html",
        page=page,
        filters=filters,
        errors=errors,
        choices=directory_choices(db.session),
        tiers=TIERS,
        now=now,
        flag_labels=LABELS,
        stale_days=settings.stale_ticket_days,
        rates_stated=rates.stated(),
        cadence_text=describe_cadence(current_app.config["MEETING_CADENCE"]),
        link=link,
        sort_link=sort_link,
    ), (400 if errors else 200)


@bp.route("/clients/new", methods=["GET", "POST"])
def create():
    if request.method == "GET":
        return _form_page(None, _values_of(None), {})
    return _submitted(
        None, lambda payload: create_client(db.session, payload, started_by="web"), "Created"
    )


@bp.route("/clients/<slug>/edit", methods=["GET", "POST"])
def edit(slug: str):
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        abort(404, f"There is no client {slug}.")
    if request.method == "GET":
        return _form_page(client, _values_of(client), {})
    return _submitted(
        client,
        lambda payload: update_client(db.session, client, payload, started_by="web"),
        "Saved",
    )


def _submitted(client: Client | None, change, done: str):
    """The posted form made into `change(payload)` of `client` (None: a new
    one), audited and committed: a redirect to its page, "`done` <name>."
    flashed; else the form again, with the errors by the form's fields."""
    loaded, errors, status = _load_form(request.form)
    if loaded is not None:
        before = ClientState.of(client)
        try:
            saved = change(loaded.payload)
        except ClientInputError as error:
            db.session.rollback()
            errors, status = {loaded.form_field(error.field): error.message}, error.status
        else:
            audit_client_change(db.session, before, saved, via="page")
            db.session.commit()
            flash(f"{done} {saved.name}.", "message")
            return redirect(f"/clients/{saved.slug}")
    return _form_page(client, _values_submitted(request.form), errors), status


def _load_form(form: MultiDict):
    """(ClientFormInput, {}, 200) or (None, errors by form field, 422)."""
    try:
        return ClientFormSchema().load(form.to_dict()), {}, 200
    except ValidationError as error:
        return None, error_messages(error.messages), 422


def _form_page(client: Client | None, values: dict, errors: dict[str, str]) -> str:
    return render_template(
        "clients/form.html",
        client=client,
        values=values,
        errors=errors,
        tiers=TIERS,
        statuses=CLIENT_STATUSES,
        group_kinds=GROUP_KINDS,
        timezones=all_timezones(),
        managers=active_accounts(db.session),
    )


def _values_of(client: Client | None) -> dict:
    """The form's values for a client as stored (or a new one)."""
    if client is None:
        fields = dict.fromkeys(FORM_FIELDS, "")
        fields |= {"tier": "new", "status": "active", "timezone": "UTC"}
        return {"fields": fields, "groups": ""} | _with_blank_rows([], [])
    fields = {}
    for name in FORM_FIELDS:
        value = client.manager_id if name == "account_manager_id" else getattr(client, name)
        fields[name] = value.isoformat() if isinstance(value, date) else str(value or "")
    contacts = [
        {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "role": c.role}
        for c in client.contacts
    ]
    identities = [
        {"system": i.system, "key": i.external_key}
        for i in sorted(client.identities, key=lambda i: (i.system, i.external_key))
        if i.system not in LINK_SYSTEMS
    ]
    groups = "\n".join(f"{group.kind}: {group.name}" for group in client.groups)
    return {"fields": fields, "groups": groups} | _with_blank_rows(contacts, identities)


def _values_submitted(form: MultiDict) -> dict:
    """The form's values as they were typed, to show again next to the errors."""
    fields = {name: form.get(name, "") for name in FORM_FIELDS}
    _, rows = split_form_rows(form)
    return {"fields": fields, "groups": form.get("groups", "")} | _with_blank_rows(
        rows["contacts"], rows["identities"]
    )


def _with_blank_rows(contacts: list[dict], identities: list[dict]) -> dict:
    """The rows, each with every column, and BLANK_ROWS empty ones at the end."""
    result = {}
    for name, rows in (("contacts", contacts), ("identities", identities)):
        columns = _ROW_COLUMNS[name]
        full = [
            {column: row.get(column) or "" for column in columns} | _removed(row) for row in rows
        ]
        while not _ends_blank(full, columns):
            full.append(dict.fromkeys(columns, "") | {"remove": False})
        result[name] = full
    return result


def _removed(row: dict) -> dict:
    return {"remove": row.get("remove") in ("on", "true", "1", True)}


def _ends_blank(rows: list[dict], columns) -> bool:
    """Whether the rows already end in BLANK_ROWS empty ones."""
    tail = rows[-BLANK_ROWS:]
    return len(tail) == BLANK_ROWS and all(
        not any(row[c] for c in columns if c != "id") for row in tail
    )
