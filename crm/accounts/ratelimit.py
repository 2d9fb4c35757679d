"""Login rate limiting: too many failed sign-ins for one email, or from one
address, within a window, and further attempts are refused unchecked.

Attempts are rows in the database (LoginAttempt), so every process of the
server counts the same ones. A success does not wipe the address's count: an
attacker with one account of their own could otherwise reset it at will. It
does end the email's run of failures, so its owner is not locked out by
their own earlier typos.

An attempt is recorded (and committed) *before* it is counted, as a failure
until its password proves right (`begin`, then `refusal`, then `finish`):
the k-th attempt to be recorded sees at least k, so however many arrive at
once, no more than the limit are ever checked. (Counted first and recorded
after, 60 parallel attempts once got 6 checked against a limit of 5.)

Anyone may lock an email out by failing its password: the owner still signs
in from an address that account signed in from before (within KNOWN_FOR),
where only the address's own limit applies.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm.accounts.models import AuditEntry, LoginAttempt

# Attempts older than this are deleted as new ones come in.
KEPT_FOR = timedelta(days=1)
# An address the account signed in from this recently is its owner's.
KNOWN_FOR = timedelta(days=90)


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


def begin(session: Session, email: str, ip: str, now: datetime) -> LoginAttempt:
    """Record an attempt, as failed until `finish` says otherwise, and commit
    it, so that concurrent attempts count it before any password is checked."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEPT_FOR))
    attempt = LoginAttempt(at=now, email=email[:254], ip=ip[:45], succeeded=False)
    session.add(attempt)
    session.commit()
    return attempt


def refusal(
    session: Session, attempt: LoginAttempt, limits: Limits, now: datetime
) -> Refusal | None:
    """Whether `attempt` (recorded by `begin`) must be refused before its
    password is checked: more failures than a limit, itself included. A
    refused attempt is taken back, so refusals never lengthen a lockout."""
    email, ip = attempt.email, attempt.ip
    since = now - limits.window
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
        )
    )
    email_since = max(since, last_success) if last_success else since
    checks = [(LoginAttempt.ip, ip, since, limits.per_address)]
    if not _known_address(session, email, ip, now):
        checks.append((LoginAttempt.email, email, email_since, limits.per_email))
    waits = []
    for column, value, start, limit in checks:
        failures = session.scalars(
            select(LoginAttempt.at)
            .where(column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at > start)
            .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
            .limit(limit + 1)
        ).all()
        if len(failures) > limit:
            # Open again when the oldest of the last `limit` failures leaves the window.
            waits.append(failures[limit - 1] + limits.window - now)
    if not waits:
        return None
    session.delete(attempt)
    session.commit()
    return Refusal(max(max(waits), timedelta(seconds=1)))


def finish(session: Session, attempt: LoginAttempt, succeeded: bool) -> None:
    """What the password check said of the attempt; the caller commits."""
    attempt.succeeded = succeeded
    session.flush()


def _known_address(session: Session, email: str, ip: str, now: datetime) -> bool:
    """Whether the account signed in from this address lately (the audit log
    keeps every sign-in, with its address, for longer than attempts)."""
    found = session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.action == "user.sign_in",
            AuditEntry.target_type == "user",
            AuditEntry.target == email,
            AuditEntry.ip == ip,
            AuditEntry.at > now - KNOWN_FOR,
        )
        .limit(1)
    )
    return found is not None
