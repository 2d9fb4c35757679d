"""The access hook: who is asking (a session, or an API token), and whether the
policy lets them; CSRF checks on forms.

Every request passes `enforce` before its view runs:
- an endpoint the policy does not list is refused, whoever asks;
- anonymous: pages redirect to the login page (with `next`), the API answers
  401 with `WWW-Authenticate: Bearer`;
- signed in but not allowed: a 403 page, or 403 JSON;
- the API takes the session cookie for reading (the explorer) and needs a
  Bearer token to change anything. A browser never sends a Bearer token on
  its own, so the API needs no CSRF token; every form POST of the pages does.
"""

from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager
from flask_smorest import abort as api_abort
from flask_wtf.csrf import CSRFError, CSRFProtect

from crm.accounts import policy, sessions
from crm.accounts.models import User
from crm.accounts.requester import (
    bearer_secret,
    current_grant,
    current_user_or_none,
    is_api_request,
)
from crm.database import read_outside_transaction
from crm.extensions import db

login_manager = LoginManager()
csrf = CSRFProtect()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Form posts that carry no CSRF token: webhooks prove their sender with a signature.
# The webhooks check their senders' signatures; a one-click unsubscribe (RFC
# 8058) comes from a mail program with no cookie, authorised by its signed token.
WITHOUT_CSRF = frozenset({"webhooks.receive", "unsubscribe.unsubscribe"})
REALM = 'Bearer realm="Touchline"'
# Where a user lands after signing in without a `next`: the first page of
# these their roles open.
LANDING_PAGES = (
    "clients.directory",
    "ingest.unmatched",
    "ingest.runs",
    "admin.users",
    "admin.audit_log",
)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(_user_from_session)
    login_manager.request_loader(_user_from_token)
    csrf.init_app(app)
    # Flask-WTF's own hook would check before anyone is known; `enforce` checks
    # forms itself, after deciding the request may go ahead at all.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # First of all hooks: under the test client an app context (and its `g`)
    # can outlive a request, and the user or CSRF token of the last one must
    # not carry over to the next.
    app.before_request_funcs.setdefault(None, []).insert(0, _forget_previous_request)
    app.before_request(enforce)
    app.teardown_request(_end_read)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.context_processor(lambda: {"may_open": may_open, "signed_in": current_user_or_none})


def _end_read(_error) -> None:
    """Give back a read's connection, outside a transaction, as the request
    ends: the app context (and its session) may outlive the request, under
    the test client, and the next request may write. Its statements are
    committed already; a rollback drops what was never flushed."""
    if g.pop("read_outside_transaction", False):
        db.session.rollback()


def _forget_previous_request() -> None:
    for name in ("_login_user", "token_grant", current_app.config["WTF_CSRF_FIELD_NAME"]):
        g.pop(name, None)


def _user_from_session(user_id: str) -> User | None:
    if is_api_request() and "Authorization" in request.headers:
        return None  # a token sent explicitly speaks for the request, not the cookie
    number, _, version = user_id.partition(":")
    if not (number.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(number))
    if user is None or not user.active or user.session_version != int(version):
        return None  # deactivated, or signed out everywhere by a new password
    if not sessions.is_live(db.session, user, session.get(sessions.COOKIE_KEY)):
        return None  # signed out: this cookie is a copy of one that ended
    return user


def _user_from_token(req) -> User | None:
    """Flask-Login's loader for token requests, asked only when a view wants
    the user itself: the access hook decides on the grant's roles alone."""
    grant = current_grant()
    return grant.user(db.session) if grant is not None else None


# --- the hook ----------------------------------------------------------------------------


def enforce():
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no such URL or method: the 404 or 405 follows
    needed = policy.required(endpoint, request.method)
    if needed == policy.PUBLIC:
        _check_csrf(endpoint)
        return None
    api = is_api_request()
    if api and request.method in SAFE_METHODS:
        g.read_outside_transaction = read_outside_transaction(db.session)
    grant = current_grant() if api else None
    if grant is not None:
        roles = grant.roles
    else:
        user = current_user_or_none()
        if user is None:
            if api:
                return _unauthorized()
            return _to_login()
        if api and request.method not in SAFE_METHODS:
            return _unauthorized(
                "The API changes nothing on a session cookie: send Authorization: Bearer <token>."
            )
        roles = user.roles
    if not policy.allows(roles, needed):
        return _forbidden(roles, needed, api)
    if not api:
        _check_csrf(endpoint)
    return None


def may_open(path: str, method: str = "GET") -> bool:
    """Whether the signed-in user may open this path (for links and menus)."""
    user = current_user_or_none()
    try:
        endpoint, _ = current_app.url_map.bind("").match(urlsplit(path).path, method=method)
    except Exception:  # no such page (yet): no link to it
        return False
    needed = policy.required(endpoint, method)
    if needed == policy.PUBLIC:
        return True
    return user is not None and policy.allows(user.roles, needed)


def author_name() -> str:
    """Who signs what this request writes (a touch, a promise, its completion):
    the signed-in account (session or API token), never a name typed in."""
    user = current_user_or_none()
    if user is None:
        raise RuntimeError("no signed-in account to sign with")  # the access hook lets none by
    return user.name or user.email


def landing_page(user: User) -> str:
    for endpoint in LANDING_PAGES:
        if policy.allows(user.roles, policy.required(endpoint, "GET")):
            return url_for(endpoint)
    return url_for("accounts.account")


def _check_csrf(endpoint: str) -> None:
    if (
        current_app.config["WTF_CSRF_ENABLED"]
        and request.method not in SAFE_METHODS
        and endpoint not in WITHOUT_CSRF
        and not is_api_request()
    ):
        csrf.protect()


def _to_login():
    target = None
    if request.method == "GET":
        target = request.full_path if request.query_string else request.path
    return redirect(url_for("accounts.login", next=target))


def _unauthorized(message: str | None = None):
    if message is None and "Authorization" in request.headers:
        if bearer_secret() is None:
            message = "Send the API token as Authorization: Bearer <token>."
        else:
            message = "The API token is unknown, revoked, or its account is deactivated."
        header = f'{REALM}, error="invalid_token"'
    else:
        header = REALM
    api_abort(
        401,
        message=message or "Sign in, or send an API token as Authorization: Bearer <token>.",
        field=None,
        headers={"WWW-Authenticate": header},
    )


def _forbidden(roles: tuple[str, ...], needed: str | None, api: bool):
    what = policy.CAPABILITIES.get(needed or "", "use this page")
    message = f"Your roles ({', '.join(roles) or 'no role'}) do not allow you to {what}."
    if needed is None:
        message = "Nobody may use this address: it has no entry in the access policy."
    if api:
        api_abort(403, message=message, field=None)
    return render_template("accounts/forbidden.html", message=message), 403


def _csrf_refused(error: CSRFError):
    return render_template("accounts/csrf.html", reason=error.description), 400
