"""Who is asking: the signed-in user and the API token of this request.

The guard decides with these and the audit log records them; both import
this module, and it imports neither.
"""

from flask import g, request
from flask_login import current_user

from crm.accounts.models import ApiToken, User
from crm.accounts.tokens import TokenGrant, grant_for_secret, note_token_use
from crm.extensions import db
from crm.models.types import utcnow

# Paths under /api/ that are pages for people, not the JSON API.
PAGES_UNDER_API = frozenset({"api-docs.openapi_swagger_ui"})


def current_user_or_none() -> User | None:
    user = current_user._get_current_object() if current_user else None
    return user if user is not None and user.is_authenticated else None


def current_grant() -> TokenGrant | None:
    """What the API token this request sent grants, if it sent a live one
    (looked up once a request)."""
    if "token_grant" not in g:
        g.token_grant = _grant_from_header()
    return g.token_grant


def current_token() -> ApiToken | None:
    """The API token this request was authenticated by, if it was."""
    grant = current_grant()
    return grant.token(db.session) if grant is not None else None


def is_api_request() -> bool:
    return request.path.startswith("/api/") and request.endpoint not in PAGES_UNDER_API


def _grant_from_header() -> TokenGrant | None:
    if not is_api_request():
        return None
    secret = bearer_secret()
    if secret is None:
        return None
    grant = grant_for_secret(db.session, secret)
    used = grant is not None and note_token_use(db.session, grant, utcnow())
    # Outside a transaction the UPDATE is committed already; a commit would end the read's mode.
    if used and not g.get("read_outside_transaction"):
        db.session.commit()
    return grant


def bearer_secret() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None
