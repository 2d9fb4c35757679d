"""The `connectwise` connector: ConnectWise PSA (Manage) records and callbacks.

ConnectWise PSA is the PSA chosen for Touchline (docs/formats.md says why):
its REST API (v3.0, `/v4_6_release/apis/3.0/...`) is documented object by
object, and open-source clients keep recorded responses of it, in an old
(2017) and a current shape.

Input, one record per object:
- a list page of the API as it answers (a JSON array of companies, tickets,
  notes, time entries, agreements or configurations), one object, or NDJSON;
- an export document naming its lists: `{"companies": [...], "tickets":
  [...], "notes": [...], "timeEntries": [...], "agreements": [...],
  "configurations": [...]}`, any of them;
- a callback body as ConnectWise posts it (`{"Type": "ticket", "Action":
  "updated", "ID": 69, "Entity": "<the object as JSON text>", ...}`), whose
  entity is read as if listed; one without an entity (a deletion, or a
  callback registered without it) is kept as needing a fetch.

Objects name no type, so their fields say what each is (`type_of`). What
each becomes (connectors.connectwise_records): a company registers its id,
identifier and name for its client; a ticket is a ticket thread, a note or
a time entry joins it (`ticket.noted`, which leaves its state alone); an
agreement is a subscription with its recurring amount, and a renewal due
at its end date; a configuration is a device of the client's inventory.
"""

import re
from collections.abc import Iterator

from marshmallow import INCLUDE, Schema, fields, post_load

from connectors.accounting import Reader, needs_fetch, parse_iso_time, unwrapped
from connectors.base import Connector, DeviceProfile, RecordError, Skip, as_list
from connectors.connectwise_records import (
    agreement,
    company_claim,
    company_hints,
    note,
    ticket,
    time_entry,
)
from connectors.readers import Record, format_of, read_records
from connectors.registry import register
from crm import jsontext

ORIGIN = "connectwise"
CALLBACK = "_callback"
# The lists of an export document, by the names it may give them.
LISTS = {
    "companies": "company",
    "tickets": "ticket",
    "notes": "note",
    "timeEntries": "time_entry",
    "time_entries": "time_entry",
    "agreements": "agreement",
    "configurations": "configuration",
}
# A callback's `Type`, lower-cased without punctuation -> the record type.
CALLBACK_TYPES = {
    "company": "company",
    "ticket": "ticket",
    "agreement": "agreement",
    "configuration": "configuration",
    "timeentry": "time_entry",
    "time": "time_entry",
}
# Fields only an agreement has, and only a configuration.
AGREEMENT_FIELDS = {
    "agreementStatus",
    "billAmount",
    "noEndingDateFlag",
    "billCycleId",
    "billingCycle",
    "cancelledFlag",
    "applicationUnits",
}
CONFIGURATION_FIELDS = {
    "deviceIdentifier",
    "serialNumber",
    "osType",
    "macAddress",
    "ipAddress",
    "modelNumber",
    "tagNumber",
    "installationDate",
}
# A configuration is a device when its name is a host name; others (licences,
# domains, "Main firewall rules") are not in the inventory.
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")


def type_of(data: dict) -> str | None:
    """What a bare ConnectWise object is, by the fields only it has."""
    keys = data.keys()
    if "ticketId" in keys and "text" in keys:
        return "note"
    if "chargeToType" in keys or "timeStart" in keys:
        return "time_entry"
    if "summary" in keys and ("board" in keys or "recordType" in keys or "status" in keys):
        return "ticket"
    if AGREEMENT_FIELDS & keys:
        return "agreement"
    if CONFIGURATION_FIELDS & keys:
        return "configuration"
    if "identifier" in keys and "company" not in keys:
        return "company"
    return None


def is_callback(data: dict) -> bool:
    return "Type" in data and "Action" in data


def typed(data: dict) -> tuple[str, dict] | None:
    """(type, object) of a record as parse leaves it: `{"ticket": {...}}`."""
    if len(data) == 1:
        ((name, value),) = data.items()
        if name in TYPES and isinstance(value, dict):
            return name, value
    return None


class CallbackSchema(Schema):
    """A callback body that carried no entity to read (see parse)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, data_key="Type")
    action = fields.String(required=True, data_key="Action")
    id = fields.Raw(required=True, data_key="ID")
    entity = fields.Raw(load_default=None, allow_none=True, data_key="Entity")

    @post_load
    def marked(self, data, **kwargs):
        """Marked as a callback the schema read, for convert."""
        return {CALLBACK: data}


@register
class ConnectWiseConnector(Connector):
    """ConnectWise PSA companies, tickets with their notes and time,
    agreements and configurations."""

    name = ORIGIN
    natural_key = ("id",)
    schema = CallbackSchema

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """One record per object, typed: `{"ticket": {...}}` (see `_typed`)."""
        records = read_records(content, format_of(filename, self.default_format))
        for record in unwrapped(records, _lists):
            if record.parse_error is not None or not isinstance(record.data, dict):
                yield record
            elif typed(record.data) is None:
                yield Record(record.position, record.locator, _typed(record.data))
            else:
                yield record

    def schema_applies(self, data: dict) -> bool:
        """Only a callback left unread is checked by the schema; objects are
        read field by field in `convert`, which names the field at fault."""
        return typed(data) is None and is_callback(data)

    def key_of(self, data: dict) -> str:
        found = typed(data)
        if found is None:
            if is_callback(data):
                return f"{data.get('Type')}:{data.get('ID')}:{data.get('Action')}"[:200]
            return str(data.get("id", ""))[:200]
        kind, item = found
        info = item.get("_info") if isinstance(item.get("_info"), dict) else {}
        return f"{kind}:{item.get('id', '')}:{info.get('lastUpdated', '')}"[:200]

    def convert(self, data: dict) -> list:
        found = typed(data)
        if found is None:
            if CALLBACK in data:  # a callback, as the schema loaded it
                return _callback(data[CALLBACK])
            raise RecordError(
                None,
                "is not a ConnectWise company, ticket, note, time entry, agreement "
                "or configuration (no field says which)",
            )
        kind, item = found
        return as_list(TYPES[kind](Reader(item, parse_iso_time)))


def _lists(document: dict) -> Iterator[tuple[str, object]]:
    """The objects of an export document's lists, typed by their list."""
    for name, kind in LISTS.items():
        items = document.get(name)
        if isinstance(items, list):
            for i, item in enumerate(items):
                yield f"{name}[{i}]", {kind: item} if isinstance(item, dict) else item


def _typed(document: dict) -> dict:
    """A callback's entity, or a bare object, typed by what it is; as it
    is when nothing says (convert then says so)."""
    if is_callback(document):
        return _callback_entity(document)
    kind = type_of(document)
    return {kind: document} if kind else document


def _callback_entity(body: dict) -> dict:
    """The entity a callback carries, typed; the body itself when there is
    none to read (convert then says why)."""
    kind = CALLBACK_TYPES.get(re.sub(r"[^a-z]", "", str(body.get("Type", "")).lower()))
    entity = body.get("Entity")
    if isinstance(entity, str):
        try:
            entity = jsontext.loads(entity)
        except ValueError:  # JSONLimitError too: convert rejects it by name
            return body
    if kind is None or str(body.get("Action", "")).lower() == "deleted":
        return body
    return {kind: entity} if isinstance(entity, dict) and entity else body


def _callback(data: dict) -> list:
    """A callback with no entity to read: why it is kept as it is."""
    kind, action = str(data.get("type", "")), str(data.get("action", ""))
    what = f"connectwise {kind.lower()} {data.get('id')} ({action})"
    if action.lower() == "deleted":
        raise Skip(f"{what}: Touchline keeps what was recorded of a deleted object")
    entity = data.get("entity")
    if isinstance(entity, str) and entity.strip():
        raise RecordError("Entity", "is not a JSON object (or is nested too deep)")
    if CALLBACK_TYPES.get(re.sub(r"[^a-z]", "", kind.lower())) is None:
        raise Skip(
            f"{what}: this callback type is not mapped; mapped: "
            f"{', '.join(sorted(set(CALLBACK_TYPES)))}"
        )
    raise needs_fetch(what)


def configuration(f: Reader) -> DeviceProfile:
    """A configuration of the client's: a device when it is active and its
    name is a host name."""
    config_id = f.text("id", required=True)
    name = f.text("name", required=True)
    if f.raw("activeFlag") is False:
        raise Skip(f"connectwise configuration {config_id} ({name}) is inactive")
    if not HOSTNAME.fullmatch(name):
        raise Skip(
            f"connectwise configuration {config_id} ({name!r}) is not named by a "
            "host name, so it is not a device the inventory keeps"
        )
    kind = f.part("type").text("name")
    return DeviceProfile(
        hints=company_hints(f),
        hostname=name,
        serial_number=f.text("serialNumber"),
        site=f.part("site").text("name"),
        operating_system=f.text("osType") or f.text("osInfo"),
        device_type=kind,
        last_seen_at=None,
        rmm=ORIGIN,
        rmm_id=config_id,
    )


# The types of record, each with what it becomes (`convert`).
TYPES = {
    "company": company_claim,
    "ticket": ticket,
    "note": note,
    "time_entry": time_entry,
    "agreement": agreement,
    "configuration": configuration,
}
