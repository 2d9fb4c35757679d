"""The `devices` connector: a device inventory, as an RMM exports it.

`flask ingest devices FILE` reads a device list (CSV, or JSON as an RMM's
API answers) and keeps each device with its client: its hostname, serial,
site, operating system, type and when the RMM last heard from it. A device's
hostname (and DNS name) then place its client's monitoring alerts, which name
the device and not the client (connectors.alertmanager, crm.devices).

Column names are matched without regard to case, spaces, dots, dashes or
underscores, so an export's labels ("Site Name", "Last Seen") and its API
field names (`siteName`, `lastSeen`, nested `deviceType.category`) read
alike. The columns of Datto RMM's device list (its API's Device fields:
`hostname`, `siteName`, `deviceType.category`, `operatingSystem`, `lastSeen`)
and NinjaOne's (its API's: `systemName`, `dnsName`, `nodeClass`, `os.name`,
`system.serialNumber`, `lastContact`, the organization and location) are
known: COLUMNS lists, for each Touchline field, the columns that give it, and
the first one a record fills is read.

The client is the record's `client` (a Touchline slug) or `account`, else
the RMM's own name for it: the Datto RMM site, the NinjaOne organization
(identity system `rmm-client`). A device whose client is not known waits in
the unmatched queue under that name. Its site is the NinjaOne location, or
the Datto RMM site.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from marshmallow import ValidationError, fields, pre_load

from connectors.base import Connector, DeviceProfile, RecordError
from connectors.fields import REQUIRED, KnownFieldsSchema, parse_datetime
from connectors.readers import Record, format_of, items_under
from connectors.registry import register
from crm.devices import host_key
from crm.identities import ClientHints

# The identity system of the name an RMM gives the client: a Datto RMM site,
# a NinjaOne organization. Mapping one places every device listed under it.
RMM_CLIENT = "rmm-client"

# Touchline field -> the columns that give it, the preferred first.
COLUMNS = {
    "hostname": ("hostname", "devicehostname", "systemname", "computername", "devicename"),
    "display_name": ("displayname", "name"),
    "dns_name": ("dnsname", "fqdn"),
    "client": ("client", "touchlineclient"),
    "account": ("account",),
    "rmm_client": (
        "organization",
        "organisation",
        "organizationname",
        "organisationname",
        "referencesorganizationname",
        "sitename",
        "site",
    ),
    "site": ("location", "locationname", "referenceslocationname", "sitename", "site"),
    "serial_number": ("serialnumber", "serial", "systemserialnumber", "biosserialnumber"),
    "operating_system": ("operatingsystem", "osname", "os"),
    "device_type": (
        "devicetype",
        "devicetypecategory",
        "devicecategory",
        "nodeclass",
        "devicetypename",
        "type",
    ),
    "last_seen": ("lastseen", "lastcontact", "lastonline", "lastcheckin"),
    "rmm_id": ("uid", "deviceuid", "id", "deviceid"),
}
# Columns only one vendor's export has: which inventory a file came from.
VENDOR_COLUMNS = {
    "ninjaone": {"systemname", "nodeclass", "lastcontact", "organization", "organizationname"},
    "datto-rmm": {"sitename", "siteuid", "devicetypecategory", "intipaddress", "lastloggedinuser"},
}
_NOT_NAME = re.compile(r"[^a-z0-9]")
# Seconds since 1970 up to the year 5138; milliseconds beyond.
_MILLISECONDS = 10**11


def column_name(name: str) -> str:
    """'Site Name', 'siteName', 'site_name' -> 'sitename'."""
    return _NOT_NAME.sub("", str(name).lower())


def _flat(record: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(column, value) of a record, nested objects as `outer.inner` columns."""
    for name, value in record.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def canonical(record: dict) -> dict:
    """The record's values by Touchline field (see COLUMNS), and `rmm`: the
    inventory it came from, when its columns say."""
    given: dict[str, object] = {}
    for name, value in _flat(record):
        if isinstance(value, str):
            value = value.strip()
        if value not in ("", None, []):
            given.setdefault(column_name(name), value)
    found = {}
    for field, columns in COLUMNS.items():
        found[field] = next((given[c] for c in columns if c in given), None)
    found["rmm"] = next((rmm for rmm, own in VENDOR_COLUMNS.items() if own & given.keys()), None)
    return found


class LastSeen(fields.Field):
    """ISO 8601, or seconds or milliseconds since 1970 as the vendors' APIs give it."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        try:
            if number is not None:
                seconds = number / 1000 if abs(number) >= _MILLISECONDS else number
                return datetime.fromtimestamp(seconds, UTC)
            return parse_datetime(value)
        except (TypeError, ValueError, OverflowError, OSError, AttributeError):
            raise ValidationError(
                "is not a time: ISO 8601, or seconds or milliseconds since 1970"
            ) from None


def _text():
    return fields.String(load_default=None, allow_none=True)


class DeviceRecordSchema(KnownFieldsSchema):
    hostname = fields.String(required=True, error_messages=REQUIRED)
    dns_name = _text()
    client = _text()
    account = _text()
    rmm_client = _text()
    site = _text()
    serial_number = _text()
    operating_system = _text()
    device_type = _text()
    last_seen = LastSeen(load_default=None, allow_none=True)
    rmm_id = _text()
    rmm = _text()

    @pre_load
    def by_field(self, data, **kwargs):
        """The file's columns as Touchline's fields; values as text."""
        found = canonical(data)
        hostname = found.pop("hostname")
        display_name = found.pop("display_name")
        found["hostname"] = hostname if hostname is not None else display_name
        return {
            name: value if name == "last_seen" or value is None else str(value)
            for name, value in found.items()
        }


@register
class DevicesConnector(Connector):
    """The devices an RMM looks after, each with its client."""

    name = "devices"
    natural_key = ("hostname",)
    schema = DeviceRecordSchema
    default_format = "csv"

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """The records of a file; a page of Datto RMM's API (`{"devices": [...]}`)
        gives one record per device."""
        records = super().parse(content, filename)
        if format_of(filename, self.default_format) == "csv":
            return records  # a row holds no list
        return items_under(records, "devices")

    def key_of(self, data: dict) -> str:
        """`client:hostname`, the device as the file names it: a device that
        waits for its client and comes again is the one waiting."""
        try:
            found = canonical(data)
        except (AttributeError, TypeError):  # not an object
            return ""
        owner = found["client"] or found["account"] or found["rmm_client"] or ""
        return f"{owner}:{found['hostname'] or found['display_name'] or ''}"

    def convert(self, data: dict) -> list[DeviceProfile]:
        if not host_key(data["hostname"]):
            raise RecordError("hostname", f"{data['hostname']!r} is not a hostname")
        identities = []
        if data["account"]:
            identities.append(("account", data["account"]))
        if data["rmm_client"]:
            identities.append((RMM_CLIENT, data["rmm_client"]))
        hints = ClientHints(slug=data["client"], identities=tuple(identities))
        if not hints:
            raise RecordError(
                "client",
                "give at least one of client, account, or the RMM's organization or site",
            )
        return [device_profile(data, hints, rmm=data["rmm"], rmm_id=data["rmm_id"])]


def device_profile(
    found: dict, hints: ClientHints, *, rmm: str | None, rmm_id: str | None, aliases: tuple = ()
) -> DeviceProfile:
    """The profile of a device record as DeviceRecordSchema loads it (this
    connector's and NinjaOne's), for the client `hints` name."""
    return DeviceProfile(
        hints=hints,
        hostname=found["hostname"],
        dns_name=found["dns_name"],
        serial_number=found["serial_number"],
        site=found["site"],
        operating_system=found["operating_system"],
        device_type=_readable(found["device_type"]),
        last_seen_at=found["last_seen"],
        rmm=rmm,
        rmm_id=rmm_id,
        aliases=aliases,
    )


def _readable(kind: str | None) -> str | None:
    """NinjaOne's node classes read as words: WINDOWS_SERVER -> Windows server."""
    if kind and kind.isupper() and "_" in kind:
        return kind.replace("_", " ").capitalize()
    return kind
