"""Accounts, API tokens and the audit log: what pages, the API and the CLI do
with them. Everything here flushes; the caller commits.

Passwords are hashed with werkzeug's generate_password_hash, by the method
in the PASSWORD_HASH_METHOD setting (scrypt; the tests use a cheap one). A
stored hash names its method, so changing the setting affects new passwords
only and old ones still verify.
"""

import secrets
from collections.abc import Iterable

from flask import current_app, has_request_context, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session
from werkzeug.security import check_password_hash, generate_password_hash

from crm.accounts import sessions
from crm.accounts.models import ROLES, ApiToken, AuditEntry, User, UserRole
from crm.accounts.requester import current_token, current_user_or_none
from crm.accounts.tokens import create_token, revoke_token

# How much of a token is kept in clear to tell tokens apart ("tl_" and 7 more).
# A token's last use is written at most this often, not on every call.
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254
# Who an entry names when no account did it: `flask users ...`, or a request
# before anyone signed in.
COMMAND_LINE = "command line"
ANONYMOUS = "anonymous"


class AccountError(ValueError):
    """Input an account operation refuses, naming the field it is about."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


# --- users ----------------------------------------------------------------------------


def normalise_email(text: str) -> str:
    return (text or "").strip().lower()


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session,
    email: str,
    name: str | None,
    roles: Iterable[str],
    password: str | None,
) -> User:
    """A new active account. Without a password it cannot sign in until an
    admin sets one (its API tokens still work)."""
    email = normalise_email(email)
    if not email or "@" not in email or len(email) > MAX_EMAIL_LENGTH:
        raise AccountError("email", f"{email or 'an empty text'} is not an email address")
    if find_user(session, email) is not None:
        raise AccountError("email", f"there is already an account for {email}", status=409)
    user = User(email=email, name=(name or "").strip() or email.split("@")[0], active=True)
    user.role_rows = [UserRole(role=role) for role in _checked_roles(roles)]
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def open_account(
    session: Session, email: str, name: str | None, roles: Iterable[str], password: str | None
) -> User:
    """A new account (create_user), noted in the audit log with its roles:
    what every door that makes one (the admin page, `flask users`) calls."""
    user = create_user(session, email, name, roles, password)
    audit(session, "user.create", "user", user.email, {"roles": list(user.roles)})
    return user


def issue_token(session: Session, user: User, name: str | None) -> tuple[ApiToken, str]:
    """A new API token for `user` and its secret (tokens.create_token), noted
    in the audit log."""
    token, secret = create_token(session, user, name)
    audit(session, "token.create", "user", user.email, _token_detail(token))
    return token, secret


def withdraw_token(session: Session, token: ApiToken) -> bool:
    """Revoke `token` (tokens.revoke_token), noted in the audit log; False,
    and no entry, when it was revoked already."""
    if not revoke_token(token):
        return False
    audit(session, "token.revoke", "user", token.user.email, _token_detail(token))
    return True


def _token_detail(token: ApiToken) -> dict:
    """A token as the audit log names it: never its secret."""
    return {"token_id": token.id, "name": token.name, "prefix": token.prefix}


def set_password(user: User, password: str) -> None:
    """Hash and store a new password; the user's other sessions end."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise AccountError("password", f"a password needs at least {minimum} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("password", f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().lower() == normalise_email(user.email):
        raise AccountError("password", "the password cannot be the email address")
    user.password_hash = generate_password_hash(
        password, method=current_app.config["PASSWORD_HASH_METHOD"]
    )
    _end_sessions(user)


def generate_password() -> str:
    """A password for someone to change or keep: 16 random URL-safe characters."""
    return secrets.token_urlsafe(12)


def set_roles(session: Session, user: User, roles: Iterable[str]) -> None:
    wanted = _checked_roles(roles)
    if "admin" in user.roles and "admin" not in wanted:
        _keep_an_admin(session, user, "roles")
    held = {row.role: row for row in user.role_rows}
    user.role_rows = [held.get(role) or UserRole(role=role) for role in wanted]
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivating signs the user out and stops their tokens; nothing is deleted."""
    if not active and user.active and "admin" in user.roles:
        _keep_an_admin(session, user, "active")
    if user.active != active:
        user.active = active
        _end_sessions(user)
    session.flush()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active account with this email and password, or None.

    An unknown email costs a hash check too, so the answer's timing does not
    tell which addresses have accounts.
    """
    user = find_user(session, email)
    if user is None or user.password_hash is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def _checked_roles(roles: Iterable[str]) -> list[str]:
    chosen = {role.strip().lower() for role in roles}
    unknown = sorted(chosen - set(ROLES))
    if unknown:
        raise AccountError(
            "roles", f"unknown role {', '.join(unknown)}: roles are {', '.join(ROLES)}"
        )
    if not chosen:
        raise AccountError("roles", f"give at least one role of {', '.join(ROLES)}")
    return [role for role in ROLES if role in chosen]


def _keep_an_admin(session: Session, user: User, field: str) -> None:
    """Refuse to leave the service without an active admin: no one could manage it."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise AccountError(
            field,
            f"{user.email} is the only active admin: make another account admin first",
            status=409,
        )


def _end_sessions(user: User) -> None:
    """Sign the user out everywhere: every session row, and every cookie of
    the current session version."""
    user.session_version = (user.session_version or 0) + 1
    session = object_session(user)
    if session is not None and user.id is not None:
        sessions.end_all(session, user)


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    cache = current_app.extensions.setdefault("touchline-dummy-hash", {})
    if method not in cache:
        cache[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return cache[method]


# --- the audit log -----------------------------------------------------------------------


def audit(
    session: Session,
    action: str,
    target_type: str | None = None,
    target: str | None = None,
    detail: dict | None = None,
    *,
    actor: User | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add an entry to the audit log (flushed with the caller's work).

    Inside a request the actor and the address default to the signed-in
    user's and the client's; the API token used, if any, goes in the detail.
    Outside one (the CLI) the actor is the command line.
    """
    detail = dict(detail or {})
    nobody = COMMAND_LINE
    if has_request_context():
        nobody = ANONYMOUS
        actor = actor or current_user_or_none()
        ip = ip or request.remote_addr
        token = current_token()
        if token is not None:
            detail.setdefault("token", token.prefix)
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else nobody,
        action=action,
        target_type=target_type,
        target=None if target is None else str(target)[:254],
        detail=detail,
        ip=ip,
    )
    session.add(entry)
    session.flush()
    return entry


def set_delivery_preferences(
    session: Session, user: User, timezone: str | None, working_days: str | None
) -> None:
    """When e-mail reaches `user`: their time zone and working days (blank:
    the defaults). Raises AccountError naming the field; audited."""
    from crm.clients.timezones import is_timezone
    from crm.meetings.schedule import parse_working_days

    timezone = (timezone or "").strip() or None
    working_days = (working_days or "").strip() or None
    if timezone and not is_timezone(timezone):
        raise AccountError("timezone", f"{timezone!r} is not a time zone (e.g. Europe/Lisbon)")
    if working_days:
        try:
            days = parse_working_days(working_days)
        except ValueError as error:
            raise AccountError("working_days", str(error)) from None
        if not days:
            raise AccountError("working_days", "name at least one day")
    user.timezone, user.working_days = timezone, working_days
    session.flush()
    audit(
        session,
        "user.preferences",
        "user",
        user.email,
        {"timezone": timezone, "working_days": working_days},
    )
