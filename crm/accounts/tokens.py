"""API tokens: making and revoking them, and what a presented secret grants.

Apart from the account operations so that the request guard can ask what a
token grants without importing the services that audit through the guard.
"""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from crm.accounts.models import ROLES, ApiToken, User, UserRole
from crm.models.types import utcnow

TOKEN_PREFIX = "tl_"
SHOWN_TOKEN_CHARACTERS = 10
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def create_token(session: Session, user: User, name: str | None) -> tuple[ApiToken, str]:
    """A new token for `user` and its secret, which is not stored: show it once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=(name or "").strip()[:120] or "API token",
        token_hash=hash_token(secret),
        prefix=secret[:SHOWN_TOKEN_CHARACTERS],
    )
    session.add(token)
    session.flush()
    return token, secret


def revoke_token(token: ApiToken, now: datetime | None = None) -> bool:
    """Revoke; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now or utcnow()
    return True


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenGrant:
    """What a live API token lets its request do: whose it is and their roles.

    Every API call asks, and most never look at the token or its user again,
    so this is read as plain values in one round trip; `token` and `user`
    load the ORM objects for the calls that do (the audit log, /me). Loading
    the token, its user and their roles as objects cost about 1 ms a call, a
    fifth of a timeline page's time."""

    token_id: int
    user_id: int
    roles: tuple[str, ...]
    last_used_at: datetime | None

    def token(self, session: Session) -> ApiToken:
        return session.get(ApiToken, self.token_id)

    def user(self, session: Session) -> User:
        return session.get(User, self.user_id)


def grant_for_secret(session: Session, secret: str) -> TokenGrant | None:
    """What the token with this secret grants, or None when no live token of
    an active user has it."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    rows = (
        session.connection().execute(_grant_statement(), {"token_hash": hash_token(secret)}).all()
    )
    if not rows:
        return None
    token_id, user_id, last_used_at, _ = rows[0]
    held = {row.role for row in rows}
    roles = tuple(role for role in ROLES if role in held)
    return TokenGrant(token_id, user_id, roles, last_used_at)


@functools.cache
def _grant_statement():
    """Built once, run as Core: building and keying the select, and the ORM's
    handling of its rows, cost three times the round trip itself."""
    return (
        select(ApiToken.id, ApiToken.user_id, ApiToken.last_used_at, UserRole.role)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(
            ApiToken.token_hash == bindparam("token_hash"),
            ApiToken.revoked_at.is_(None),
            User.active.is_(True),
        )
    )


def note_token_use(session: Session, grant: TokenGrant, now: datetime) -> bool:
    """Record that the token was used; True when that changed the row (at most
    once per TOKEN_USE_RESOLUTION, so API calls do not each write)."""
    last = grant.last_used_at
    if last is not None and now - last < TOKEN_USE_RESOLUTION:
        return False
    session.execute(update(ApiToken).where(ApiToken.id == grant.token_id).values(last_used_at=now))
    return True
