"""Who the clients are, how they are grouped, and how other systems name them."""

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from crm.extensions import db
from crm.models.types import UTCDateTime, utcnow
from crm.vocabulary import CLIENT_STATUSES, GROUP_KINDS, TIERS


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


client_groups = Table(
    "client_groups",
    db.metadata,
    Column("client_id", ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class Client(db.Model):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(_one_of("tier", TIERS), name="tier"),
        CheckConstraint(_one_of("status", CLIENT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16), default="new", index=True)
    industry: Mapped[str | None] = mapped_column(String(80))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The account manager is a user account (their e-mail address, time zone
    # and working days say where and when their e-mail goes). A name given as
    # text that matches no active account (typed before managers were accounts,
    # or sent by an import) is kept in `unmatched_manager` until an admin
    # assigns an account (crm.clients.managers); None once one is assigned.
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # (The column keeps its old name, account_manager, which imports fill.)
    unmatched_manager: Mapped[str | None] = mapped_column(
        "account_manager", String(120), index=True
    )
    customer_since: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    groups: Mapped[list["Group"]] = relationship(
        secondary=client_groups, back_populates="clients", order_by="Group.kind, Group.name"
    )
    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="Contact.name"
    )
    identities: Mapped[list["Identity"]] = relationship(
        back_populates="client", cascade="all, delete-orphan"
    )

    manager: Mapped["User | None"] = relationship(lazy="joined", innerjoin=False)  # noqa: F821

    @hybrid_property
    def account_manager(self) -> str | None:
        """The account manager's name: their account's, else the unmatched text."""
        return self.manager.name if self.manager is not None else self.unmatched_manager

    @account_manager.inplace.expression
    @classmethod
    def _account_manager_sql(cls):
        users = db.metadata.tables["users"]
        name = select(users.c.name).where(users.c.id == cls.manager_id).scalar_subquery()
        return func.coalesce(name, cls.unmatched_manager)

    @account_manager.inplace.setter
    def _set_account_manager(self, text: str | None) -> None:
        """A manager named as text (an import): the active account it names
        (match_account), else kept as unmatched."""
        session = object_session(self)
        text = (text or "").strip() or None
        found = match_account(session, text) if session is not None and text else None
        self.manager = found
        self.unmatched_manager = None if found is not None else text

    def __repr__(self) -> str:
        return f"<Client {self.slug}>"


def manager_key(text: str) -> str:
    """How a manager's name or address is compared: case and spaces aside
    (" Jane  DOE " and "jane doe" are one name)."""
    return " ".join(text.split()).casefold()


def match_account(session: Session, text: str | None):
    """The one active user account that `text` names, by e-mail address or
    display name (manager_key), or None: no account, or two accounts of that
    name (ambiguous, left for an admin). Migration 0019 applies the same rule."""
    from crm.accounts.models import User

    if not text or not text.strip():
        return None
    key = manager_key(text)
    users = session.scalars(select(User).where(User.active.is_(True))).all()
    by_email = [user for user in users if user.email == key]
    if by_email:
        return by_email[0]
    by_name = [user for user in users if manager_key(user.name) == key]
    return by_name[0] if len(by_name) == 1 else None


class Group(db.Model):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("kind", "name"),
        CheckConstraint(_one_of("kind", GROUP_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))

    clients: Mapped[list[Client]] = relationship(secondary=client_groups, back_populates="groups")

    def __repr__(self) -> str:
        return f"<Group {self.kind}:{self.name}>"


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Stored lower-cased: marketing events find their client by this address.
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(120))

    client: Mapped[Client] = relationship(back_populates="contacts")


class Identity(db.Model):
    """How another system names a client: (system, external key) -> client.

    Systems in use: `stripe` (cus_...), `zendesk` (organization id), `alert`
    (a label value), `salesforce` (account id), `domain` (an email domain) and
    `account` (a generic account code used by the generic file formats).
    """

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("system", "external_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(40))
    external_key: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client] = relationship(back_populates="identities")

    def __repr__(self) -> str:
        return f"<Identity {self.system}:{self.external_key}>"
