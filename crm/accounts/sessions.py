"""Browser sessions that the server can end.

A signed session cookie alone cannot be taken back: a copy of it works until
it expires. So each sign-in starts a UserSession row, and the cookie carries
its token (the row keeps only the token's SHA-256). Every page request asks
whether its session's row is still live; signing out ends that row, and
"sign out everywhere", a new password or deactivation end every row of the
account (together with its session version, which ends them in one step for
cookies made before sessions had rows).
"""

import hashlib
import secrets

from flask import request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.accounts.models import User, UserSession
from crm.models.types import utcnow

# The key of the session cookie's token.
COOKIE_KEY = "sid"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User) -> str:
    """A new live session for `user`, with where it came from; its token,
    for the cookie."""
    token = secrets.token_urlsafe(32)
    agent = request.user_agent.string if request else None
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=_hash(token),
            ip=(request.remote_addr or "")[:45] or None,
            agent=(agent or "")[:200] or None,
        )
    )
    session.flush()
    return token


def is_live(session: Session, user: User, token: str | None) -> bool:
    """Whether `token` names a session of `user` that has not ended."""
    if not token:
        return False
    return (
        session.scalar(
            select(UserSession.id).where(
                UserSession.token_hash == _hash(token),
                UserSession.user_id == user.id,
                UserSession.ended_at.is_(None),
            )
        )
        is not None
    )


def end(session: Session, token: str | None) -> None:
    """End the session whose token this is (signing out)."""
    if token:
        session.execute(
            update(UserSession)
            .where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def end_all(session: Session, user: User, keep: str | None = None) -> int:
    """End every live session of `user` but the one with token `keep`; how many."""
    condition = [UserSession.user_id == user.id, UserSession.ended_at.is_(None)]
    if keep:
        condition.append(UserSession.token_hash != _hash(keep))
    result = session.execute(update(UserSession).where(*condition).values(ended_at=utcnow()))
    return result.rowcount


def live(session: Session, user: User) -> list[UserSession]:
    """The account's live sessions, newest first, for its owner to see."""
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
            .order_by(UserSession.created_at.desc(), UserSession.id.desc())
        )
    )


def token_hash(token: str | None) -> str | None:
    return _hash(token) if token else None
