"""Login rate limiting: too many failed sign-ins for one email, or from one
address, within a window, and further attempts are refused unchecked.

Attempts are rows in the database (LoginAttempt), so every process of the
server counts the same ones. A success does not wipe the address's count: an
attacker with one account of their own could otherwise reset it at will. It
does end the email's run of failures, so its owner is not locked out by
their own earlier typos.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm.accounts.models import LoginAttempt

# Attempts older than this are deleted as new ones come in.
KEPT_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    per_email: int
    per_address: int
    window: timedelta

    @classmethod
    def from_config(cls, config) -> "Limits":
        return cls(
            per_email=config["LOGIN_MAX_FAILURES"],
            per_address=config["LOGIN_MAX_FAILURES_PER_IP"],
            window=timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
        )


@dataclass(frozen=True)
class Refusal:
    retry_after: timedelta

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds() / 60))

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds()))


def refusal(session: Session, email: str, ip: str, limits: Limits, now: datetime) -> Refusal | None:
    """Whether this attempt must be refused before its password is checked."""
    since = now - limits.window
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
        )
    )
    email_since = max(since, last_success) if last_success else since
    waits = []
    for column, value, start, limit in (
        (LoginAttempt.email, email, email_since, limits.per_email),
        (LoginAttempt.ip, ip, since, limits.per_address),
    ):
        failures = session.scalars(
            select(LoginAttempt.at)
            .where(column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at > start)
            .order_by(LoginAttempt.at.desc())
            .limit(limit)
        ).all()
        if len(failures) >= limit:
            # Open again when the oldest of the last `limit` failures leaves the window.
            waits.append(failures[-1] + limits.window - now)
    if not waits:
        return None
    return Refusal(max(max(waits), timedelta(seconds=1)))


def record(session: Session, email: str, ip: str, succeeded: bool, now: datetime) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEPT_FOR))
    session.add(LoginAttempt(at=now, email=email[:254], ip=ip[:45], succeeded=succeeded))
    session.flush()
