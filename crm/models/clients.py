"""Who the clients are, how they are grouped, and how other systems name them."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    account_manager: Mapped[str | None] = mapped_column(String(120), index=True)
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

    def __repr__(self) -> str:
        return f"<Client {self.slug}>"


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
