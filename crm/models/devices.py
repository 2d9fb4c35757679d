"""The devices we look after for each client, as an RMM's inventory lists them."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.clients import Client
from crm.models.types import UTCDateTime, utcnow


class Device(db.Model):
    """One device of a client: its hostname, where it is and what it is.

    `host` is the hostname as alerts name it (lower-cased, see
    crm.devices.host_key) and, as identity system `host`, places those
    alerts with the client. A device is known by its client and host; an
    import of the inventory again brings it up to date.
    """

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("client_id", "host"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    hostname: Mapped[str] = mapped_column(String(200))  # as the RMM writes it
    host: Mapped[str] = mapped_column(String(200))
    dns_name: Mapped[str | None] = mapped_column(String(200))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    site: Mapped[str | None] = mapped_column(String(200))
    operating_system: Mapped[str | None] = mapped_column(String(200))
    device_type: Mapped[str | None] = mapped_column(String(80))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which inventory listed it, and its id there.
    rmm: Mapped[str | None] = mapped_column(String(40))
    rmm_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client] = relationship()

    def __repr__(self) -> str:
        return f"<Device {self.hostname}>"
