"""The `ninjaone` connector (rmm): NinjaOne's public API v2 answers and its webhook.

Why NinjaOne: of the two RMMs the issue names, it is the one whose public
material holds real payloads (a recorded webhook delivery and API answers,
tests/fixtures/vendors/SOURCES.md) besides its OpenAPI document; Datto RMM
publishes its Swagger document, but its SDKs' fixtures are hand-made, and its
webhook body is whatever template the MSP writes.

Input: what the API answers (`GET /v2/organizations`, `/v2/devices`,
`/v2/devices-detailed`, `/v2/alerts`, `/v2/activities`), one object, an array
or `{"activities": [...]}`; and the webhook (a notification channel or the
API's `PUT /v2/webhook`), whose body is one activity, its `device` expanded
when the webhook asks for it. Each record is read by what it is:

  organization  (`nodeApprovalMode`, or the detailed answer's `locations`) an identity
                claim: NinjaOne's id (`ninjaone 2`) and its name (`rmm-client
                Country Consulting`, the name device exports use)
  device        (`nodeClass`, `systemName`) into the device inventory, as the
                `devices` connector reads it, for the organization's client; its
                id is registered (`ninjaone-device 7`) for alerts naming only it
  alert         (`uid`, `sourceType`, `createTime`) an open alert, raised at
                `createTime`
  activity      (`activityType`, `statusCode`) see connectors.ninjaone_activities

Times are seconds since 1970 with a fraction (`1742391675.556`), as NinjaOne
sends them; ISO 8601 text is read too.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from marshmallow import INCLUDE, Schema, ValidationError

from connectors.accounting import AnswerConnector, Reader, parse_iso_time
from connectors.base import (
    Converted,
    DeviceProfile,
    IdentityClaim,
    RecordError,
    first_error,
)
from connectors.devices import RMM_CLIENT, DeviceRecordSchema, device_profile
from connectors.ninjaone_activities import DEVICE_SYSTEM, ORIGIN, activity, open_alert
from connectors.registry import register
from crm.identities import ClientHints

# The devices connector's fields by the NinjaOne field that gives them, for messages.
NINJA_NAMES = {"hostname": "systemName", "last_seen": "lastContact"}
# Seconds since 1970 up to the year 5138; milliseconds beyond.
_MILLISECONDS = 10**11


def epoch_time(text: str) -> datetime:
    """NinjaOne's time: seconds since 1970 (`1742391675.556`, exact to the
    microsecond), milliseconds, or ISO 8601 text; as an aware UTC time."""
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        return parse_iso_time(text)
    if not seconds.is_finite():
        raise ValueError(f"{text!r} is not a time")
    if abs(seconds) >= _MILLISECONDS:
        seconds /= 1000
    whole = int(seconds)
    micro = int(((seconds - whole) * 1_000_000).to_integral_value())
    try:
        return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=micro)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{text!r} is out of range as seconds since 1970") from None


def reader(data: dict) -> Reader:
    """Typed, path-named reads of a NinjaOne record; numbers read as text."""
    return Reader(data, epoch_time)


def _lists(data: dict) -> Iterator[tuple[str, object]]:
    """The items of a list answer: `{"activities": [...]}` (`GET /v2/activities`)."""
    for name in ("activities", "alerts", "devices", "organizations"):
        if isinstance(data.get(name), list):
            for index, item in enumerate(data[name]):
                yield f"{name}[{index}]", item
            return


class RecordSchema(Schema):
    """Any NinjaOne object; its fields are read, by its kind, in `convert`."""

    class Meta:
        unknown = INCLUDE


def kind_of(data: dict) -> str:
    """What a NinjaOne record is, by the fields only that kind has."""
    if "activityType" in data or ("statusCode" in data and "activityTime" in data):
        return "activity"
    if "sourceType" in data or ("uid" in data and "createTime" in data):
        return "alert"
    if {"nodeClass", "systemName", "dnsName"} & data.keys():
        return "device"
    # Not just `id` and `name`: a location (`GET /v2/locations`) has those too.
    if {"nodeApprovalMode", "locations", "policies"} & data.keys():
        return "organization"
    raise RecordError(
        None,
        "not a NinjaOne organization, device, alert or activity "
        "(none of nodeApprovalMode, nodeClass, sourceType, activityType)",
    )


@register
class NinjaOneConnector(AnswerConnector):
    name = "ninjaone"
    natural_key = ("id",)
    schema = RecordSchema

    lists = staticmethod(_lists)

    def key_of(self, data: dict) -> str:
        if not isinstance(data, dict):
            return ""
        key = data.get("uid") or data.get("id") or ""
        status = data.get("statusCode")
        return f"{key}:{status}"[:200] if status else str(key)[:200]

    def convert(self, data: dict) -> list[Converted]:
        kind = kind_of(data)
        if kind == "organization":
            return [organization(reader(data))]
        if kind == "device":
            return [device(data)]
        if kind == "alert":
            return open_alert(reader(data))
        return activity(reader(data))


def organization(f: Reader) -> IdentityClaim:
    """An organization names its client twice: by NinjaOne's id and by name."""
    org_id = f.text("id", required=True)
    name = f.text("name", required=True)
    aliases = ((ORIGIN, org_id), (RMM_CLIENT, name))
    return IdentityClaim(hints=ClientHints(identities=aliases), aliases=aliases)


def device(data: dict) -> DeviceProfile:
    """A device as the `devices` connector reads NinjaOne's fields, for the
    client its organization (id, else name) names."""
    f = reader(data)
    device_id = f.text("id", required=True)
    org_id = f.text("organizationId") or f.part("references.organization").text("id")
    try:
        found = DeviceRecordSchema().load(data)
    except ValidationError as error:
        problem = first_error(error.messages)
        raise RecordError(NINJA_NAMES.get(problem.field, problem.field), problem.message) from None
    identities = [(ORIGIN, org_id)] if org_id else []
    if found["rmm_client"]:
        identities.append((RMM_CLIENT, found["rmm_client"]))
    if not identities:
        raise RecordError("organizationId", "is required: it names the device's client")
    return device_profile(
        found,
        ClientHints(identities=tuple(identities)),
        rmm=ORIGIN,
        rmm_id=device_id,
        aliases=((DEVICE_SYSTEM, device_id),),
    )
