"""Signing in and out, and one's own account (`/login`, `/logout`, `/account`)."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user
from marshmallow import ValidationError
from sqlalchemy import func, select

from crm.accounts import mail, ratelimit, sessions
from crm.accounts.guard import landing_page
from crm.accounts.operations import (
    MAX_EMAIL_LENGTH,
    AccountError,
    audit,
    authenticate,
    normalise_email,
    set_delivery_preferences,
    set_password,
)
from crm.accounts.policy import CAPABILITIES, capabilities_of
from crm.accounts.requester import current_user_or_none
from crm.accounts.schemas import (
    DeliveryPreferencesFormSchema,
    LoginFormSchema,
    MailPreferencesFormSchema,
    PasswordChangeFormSchema,
)
from crm.extensions import db
from crm.models import Client
from crm.models.types import utcnow

bp = Blueprint("accounts", __name__)

WRONG = "Wrong email or password."


@bp.route("/login", methods=["GET", "POST"])
def login():
    user = current_user_or_none()
    target = safe_next(request.values.get("next"))
    if user is not None and request.method == "GET":
        return redirect(target or landing_page(user))
    if request.method == "GET":
        return _login_page(target, email="")
    try:
        form = LoginFormSchema().load(request.form.to_dict())
    except ValidationError as error:
        email = request.form.get("email", "")
        return _login_page(target, email, _first(error.messages)), 422
    email = normalise_email(form["email"])[:MAX_EMAIL_LENGTH]
    ip = request.remote_addr or "unknown"
    now = utcnow()
    attempt = ratelimit.begin(db.session, email, ip, now)
    refused = ratelimit.refusal(
        db.session, attempt, ratelimit.Limits.from_config(current_app.config), now
    )
    if refused is not None:
        message = (
            "Too many failed sign-ins for this account or from your network. "
            f"Try again in {refused.minutes} minute{'s' if refused.minutes != 1 else ''}."
        )
        page = _login_page(target, email, message)
        return page, 429, {"Retry-After": str(refused.seconds)}
    user = authenticate(db.session, email, form["password"])
    ratelimit.finish(db.session, attempt, user is not None)
    if user is None:
        db.session.commit()
        return _login_page(target, email, WRONG), 401
    user.last_login_at = now
    audit(db.session, "user.sign_in", "user", user.email, actor=user)
    db.session.commit()
    session.clear()  # nothing from before signing in carries over
    _begin(user)
    return redirect(target or landing_page(user))


def _begin(user) -> None:
    """Sign this browser in as `user`, in a session the server can end."""
    session[sessions.COOKIE_KEY] = sessions.start(db.session, user)
    db.session.commit()
    login_user(user)
    session.permanent = True  # lasts PERMANENT_SESSION_LIFETIME, renewed as it is used


@bp.post("/logout")
def logout():
    sessions.end(db.session, session.get(sessions.COOKIE_KEY))
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "message")
    return redirect(url_for("accounts.login"))


@bp.get("/account")
def account():
    return _account_page({}), 200


@bp.post("/account/password")
def change_password():
    user = current_user_or_none()
    try:
        form = PasswordChangeFormSchema().load(request.form.to_dict())
    except ValidationError as error:
        return _account_page({"password": _first(error.messages)}), 422
    if authenticate(db.session, user.email, form["current_password"]) is None:
        return _account_page({"password": "The current password is wrong."}), 422
    if form["new_password"] != form["repeat_password"]:
        return _account_page({"password": "The new passwords differ."}), 422
    try:
        set_password(user, form["new_password"])
    except AccountError as error:
        db.session.rollback()
        return _account_page({"password": error.message.capitalize() + "."}), error.status
    audit(db.session, "user.password", "user", user.email, {"own": True})
    db.session.commit()
    # The new password ended every session, this one too: start a fresh one.
    _begin(user)
    flash("Your password is changed; your other sessions are signed out.", "message")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/end")
def end_other_sessions():
    """Sign out everywhere else: every other browser's session ends now."""
    user = current_user_or_none()
    ended = sessions.end_all(db.session, user, keep=session.get(sessions.COOKIE_KEY))
    audit(db.session, "user.sessions_ended", "user", user.email, {"sessions": ended})
    db.session.commit()
    noun = "session" if ended == 1 else "sessions"
    flash(f"{ended} other {noun} signed out.", "message")
    return redirect(url_for("accounts.account"))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(character) < 32 or character == "\\" for character in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _login_page(target: str | None, email: str, error: str | None = None) -> str:
    return render_template("accounts/login.html", next=target, email=email, error=error)


def _account_page(errors: dict[str, str]) -> str:
    user = current_user_or_none()
    granted = capabilities_of(user.roles)
    return render_template(
        "accounts/account.html",
        user=user,
        abilities=[text for name, text in CAPABILITIES.items() if name in granted],
        errors=errors,
        sessions=sessions.live(db.session, user),
        this_session=sessions.token_hash(session.get(sessions.COOKIE_KEY)),
        mail=mail.preferences(db.session, user.email),
        mail_kinds=mail.KIND_LABELS,
        managing=db.session.scalar(
            select(func.count(Client.id)).where(Client.manager_id == user.id)
        ),
    )


def _first(messages: dict) -> str:
    field, texts = next(iter(messages.items()))
    text = texts[0] if isinstance(texts, list) and texts else str(texts)
    return f"{field.replace('_', ' ').capitalize()}: {text}"


@bp.post("/account/delivery")
def delivery_preferences():
    """When briefings reach the signed-in user: their time zone and working days."""
    user = current_user_or_none()
    try:
        data = DeliveryPreferencesFormSchema().load(request.form)
    except ValidationError as error:
        field, texts = next(iter(error.messages.items()))
        return _account_page({field: " ".join(texts)}), 422
    try:
        set_delivery_preferences(db.session, user, data["timezone"], data["working_days"])
    except AccountError as error:
        db.session.rollback()
        return _account_page({error.field: error.message}), 422
    db.session.commit()
    flash("Delivery preferences saved.")
    return redirect(url_for(".account"))


@bp.post("/account/mail")
def mail_preferences():
    """Which e-mail the signed-in user receives (the briefing, the digest)."""
    user = current_user_or_none()
    try:
        wanted = MailPreferencesFormSchema().load(request.form)
    except ValidationError as error:
        return _account_page({"mail": _first(error.messages)}), 422
    mail.set_receives(db.session, user.email, wanted, via="account")
    db.session.commit()
    flash("E-mail preferences saved.")
    return redirect(url_for(".account"))
