"""The admins' pages: accounts (/admin/users), their API tokens and the audit log.

A password an admin leaves empty is generated; it and every new API token
are shown on the page that answers the form, once, and never stored in the
clear (nor put in the session cookie, as a flashed message would be).
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from webargs.multidictproxy import MultiDictProxy

from crm.accounts.audit import ACTIONS, audit_page
from crm.accounts.models import ROLES, ApiToken, User
from crm.accounts.operations import (
    AccountError,
    audit,
    generate_password,
    issue_token,
    open_account,
    set_active,
    set_password,
    set_roles,
    withdraw_token,
)
from crm.accounts.policy import ROLE_CAPABILITIES
from crm.accounts.schemas import (
    ActiveFormSchema,
    AuditQuerySchema,
    PasswordResetFormSchema,
    RolesFormSchema,
    TokenFormSchema,
    UserCreateFormSchema,
)
from crm.api import ID
from crm.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


# --- accounts ------------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
def users():
    if request.method == "GET":
        return _users_page({}, {})
    values = request.form
    try:
        form = _load(UserCreateFormSchema(), values)
    except ValidationError as error:
        return _users_page(_messages(error), values), 422
    password = form.get("password") or generate_password()
    try:
        user = open_account(db.session, form["email"], form.get("name"), form["roles"], password)
    except AccountError as error:
        db.session.rollback()
        return _users_page({error.field: error.message}, values), error.status
    db.session.commit()
    shown = None if form.get("password") else password
    message = f"Account {user.email} created."
    return _user_page(user, created=message, password=shown), 201


@bp.get(f"/users/<{ID}:user_id>")
def user(user_id: int):
    return _user_page(_user(user_id))


@bp.post(f"/users/<{ID}:user_id>/roles")
def user_roles(user_id: int):
    found = _user(user_id)
    before = list(found.roles)
    _, refused = _user_change(
        found, RolesFormSchema(), lambda form: set_roles(db.session, found, form["roles"])
    )
    if refused:
        return refused
    if list(found.roles) != before:
        detail = {"from": before, "to": list(found.roles)}
        audit(db.session, "user.roles", "user", found.email, detail)
    db.session.commit()
    flash(f"{found.email} now holds: {', '.join(found.roles)}.", "message")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post(f"/users/<{ID}:user_id>/active")
def user_active(user_id: int):
    found = _user(user_id)
    was = found.active
    _, refused = _user_change(
        found, ActiveFormSchema(), lambda form: set_active(db.session, found, form["active"])
    )
    if refused:
        return refused
    if was != found.active:
        action = "user.activate" if found.active else "user.deactivate"
        audit(db.session, action, "user", found.email)
    db.session.commit()
    state = "active" if found.active else "deactivated: signed out, its API tokens refused"
    flash(f"{found.email} is {state}.", "message")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post(f"/users/<{ID}:user_id>/password")
def user_password(user_id: int):
    found = _user(user_id)

    def reset(form) -> tuple[str, bool]:
        # An empty field asks for a generated password, shown once on the answer.
        password = form.get("password") or generate_password()
        set_password(found, password)
        return password, not form.get("password")

    made, refused = _user_change(found, PasswordResetFormSchema(), reset)
    if refused:
        return refused
    password, generated = made
    audit(db.session, "user.password", "user", found.email, {"generated": generated})
    db.session.commit()
    message = f"New password set for {found.email}; their sessions are signed out."
    return _user_page(found, created=message, password=password if generated else None)


# --- API tokens ----------------------------------------------------------------------------


@bp.route(f"/users/<{ID}:user_id>/tokens", methods=["GET", "POST"])
def tokens(user_id: int):
    found = _user(user_id)
    if request.method == "GET":
        return _tokens_page(found)
    try:
        form = _load(TokenFormSchema(), request.form)
    except ValidationError as error:
        return _tokens_page(found, errors=_messages(error)), 422
    token, secret = issue_token(db.session, found, form.get("name"))
    db.session.commit()
    return _tokens_page(found, new_token=token, secret=secret), 201


@bp.post(f"/users/<{ID}:user_id>/tokens/<{ID}:token_id>/revoke")
def revoke_token_form(user_id: int, token_id: int):
    found = _user(user_id)
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == found.id)
    )
    if token is None:
        abort(404, f"{found.email} has no API token {token_id}.")
    if withdraw_token(db.session, token):
        flash(f"Token {token.prefix}… ({token.name}) is revoked.", "message")
    db.session.commit()
    return redirect(url_for("admin.tokens", user_id=user_id))


# --- the audit log -------------------------------------------------------------------------


@bp.get("/audit")
def audit_log():
    schema = AuditQuerySchema()
    errors = {}
    try:
        query = schema.load(request.args.to_dict())
    except ValidationError as error:
        errors = _messages(error)
        query = schema.load({})
    page = audit_page(db.session, **query)
    return render_template(
        "admin/audit.html",
        entries=page,
        query=query,
        errors=errors,
        actions=ACTIONS,
    ), (400 if errors else 200)


# --- helpers ------------------------------------------------------------------------------


def _user(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        abort(404, f"There is no account {user_id}.")
    return found


def _user_change(found: User, schema, change):
    """(what `change(form)` made, None) from the posted form, not yet committed;
    or (None, the account's page with the error) when the form or the change
    is refused, the change rolled back."""
    try:
        form = _load(schema, request.form)
    except ValidationError as error:
        return None, (_user_page(found, errors=_messages(error)), 422)
    try:
        return change(form), None
    except AccountError as error:
        db.session.rollback()
        return None, (_user_page(found, errors={error.field: error.message}), error.status)


def _load(schema, values) -> dict:
    return schema.load(MultiDictProxy(values, schema))


def _messages(error: ValidationError) -> dict[str, str]:
    result = {}
    for field, texts in error.messages.items():
        if isinstance(texts, dict):  # a list field: {0: ["..."]}
            texts = [text for lines in texts.values() for text in lines]
        result[field] = " ".join(texts) if isinstance(texts, list) else str(texts)
    return result


def _users_page(errors: dict[str, str], values) -> str:
    everyone = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "admin/users.html",
        users=everyone,
        roles=ROLES,
        role_capabilities=ROLE_CAPABILITIES,
        errors=errors,
        values=values,
        chosen=set(values.getlist("roles")) if values else set(),
    )


def _user_page(found: User, *, errors=None, created=None, password=None) -> str:
    return render_template(
        "admin/user.html",
        user=found,
        roles=ROLES,
        errors=errors or {},
        created=created,
        password=password,
    )


def _tokens_page(found: User, *, errors=None, new_token=None, secret=None) -> str:
    return render_template(
        "admin/tokens.html",
        user=found,
        errors=errors or {},
        new_token=new_token,
        secret=secret,
    )
