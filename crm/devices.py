"""A client's devices, and how a device is named where alerts name it.

An RMM's inventory (connectors.devices) lists each device with its client;
a monitoring alert names the device it is about by host (Alertmanager's
`instance` label: `web-1.acme.example:9100`). Both speak of the device by
`host_key`, its host lower-cased without scheme, port or path, and a
device's host is an identity of its client (system `host`), so the alerts
of a device the inventory knows go to its client.
"""

import ipaddress
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Device

HOST_SYSTEM = "host"


def host_key(text: str) -> str:
    """The host a hostname, an `instance` label or a URL names, lower-cased:
    "WEB-1.acme.example:9100" -> "web-1.acme.example",
    "https://shop.acme.example/health" -> "shop.acme.example", "[fe80::1]:9100" -> "fe80::1".
    Hostnames are case-insensitive; an alert's port says which exporter
    answered, not which device."""
    text = text.strip()
    try:  # a bare IPv6 address has colons that are not a port's
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname
    except ValueError:  # an unbalanced bracket
        host = None
    return (host or "").rstrip(".").lower()


def client_devices(session: Session, client_id: int) -> list[Device]:
    """A client's devices by site, then hostname."""
    return list(
        session.scalars(
            select(Device)
            .where(Device.client_id == client_id)
            .order_by(Device.site.is_(None), Device.site, Device.host)
        )
    )
