"""Who may sign in, their API tokens, what they did, and the sign-in attempts
that rate limiting counts."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.types import Json, UTCDateTime, utcnow

# The roles a user may hold, any number of them (crm.accounts.policy says what
# each one allows).
ROLES = ("admin", "manager", "staff", "executive")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so one address is one account however it is typed.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the id kept in the session cookie: changing it (a new password,
    # deactivation) signs the user out everywhere.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When e-mail reaches them (briefings before meetings, reports.delivery):
    # their IANA time zone and working days ("Mon-Fri"); None: the defaults.
    timezone: Mapped[str | None] = mapped_column(String(64))
    working_days: Mapped[str | None] = mapped_column(String(40))

    role_rows: Mapped[list["UserRole"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )
    tokens: Mapped[list["ApiToken"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiToken.id"
    )

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles held, in ROLES order."""
        held = {row.role for row in self.role_rows}
        return tuple(role for role in ROLES if role in held)

    # --- what Flask-Login asks of a user ---------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class UserSession(db.Model):
    """One signed-in browser: the session cookie holds its token, this row its
    SHA-256. Signing out ends the row, so a copy of the cookie is worth
    nothing afterwards; "sign out everywhere", a new password and
    deactivation end all of an account's rows."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    agent: Mapped[str | None] = mapped_column(String(200))


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(role) for role in ROLES)})", name="role"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class ApiToken(db.Model):
    """A secret a program sends as `Authorization: Bearer ...` to act as its user.

    Only the SHA-256 of the secret is kept: the secret is shown once, when
    made. The secret is random (32 bytes), so a plain hash is enough; a slow
    password hash would only slow down every API call.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class AuditEntry(db.Model):
    """One thing someone did that the provider must be able to account for.

    The actor is kept as text (id and email), not as a foreign key, so the
    entry outlives the account. `target_type` and `target` name what it was
    done to: ("client", slug), ("user", email), ("token", "12")...
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_target", "target_type", "target", "at"),
        Index("ix_audit_entries_action", "action", "at"),
        Index("ix_audit_entries_actor", "actor_email", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None]
    actor_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str | None] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(254))
    detail: Mapped[dict] = mapped_column(Json, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))


class LoginAttempt(db.Model):
    """A sign-in attempt, kept for a day: what the login rate limit counts.

    In the database rather than in memory, so every worker process of the
    server counts the same attempts.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email", "email", "at"),
        Index("ix_login_attempts_ip", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(45))
    succeeded: Mapped[bool] = mapped_column(default=False)


# The e-mail a person may stop receiving (crm.accounts.mail): the briefing
# before each meeting (reports.delivery) and the weekly executive digest.
MAIL_KINDS = ("briefing", "digest")


class MailOptOut(db.Model):
    """One address that does not want one kind of e-mail. Kept by address, not
    by account, because a briefing may go to an account manager's address
    that has no account, and that address too must be able to stop it."""

    __tablename__ = "mail_opt_outs"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(kind) for kind in MAIL_KINDS)})", name="kind"),
    )

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "account" (the form at /account), "api" (/api/v1/me/mail) or "link" (an
    # unsubscribe link or one-click POST).
    via: Mapped[str] = mapped_column(String(16))
