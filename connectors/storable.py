"""Whether a record can be stored as it was sent: text the database can hold,
values that fit their columns.

Text: PostgreSQL holds no NUL character (U+0000) in text or JSON, and no
engine can encode an unpaired surrogate, which a JSON `\\ud800` escape gives.
A record carrying either is rejected naming the field, and its inbox copy
shows each such character as U+FFFD; the raw payload keeps the bytes as
they came. Looking is cheap only when the bytes can hold such a character
at all (`may_hold_unstorable_text`), so the pipeline asks that first.

Lengths: the generic formats check theirs as they read a record, but a
vendor connector builds some values itself (a Stripe title holds the
invoice number, a key the vendor's id). A value longer than its column
would fail its whole batch on PostgreSQL and be stored past the declared
length on SQLite; cutting it short would store something nobody sent. So
the record is rejected instead, naming the field, and waits in the inbox
whole. The limits are read from the models, so they follow any migration.
"""

import re

from sqlalchemy import String, Table

from connectors.base import (
    DEVICE_FIELDS,
    ClientProfile,
    DeviceProfile,
    EventColumns,
    IdentityClaim,
    MeetingProfile,
    RecordError,
)
from connectors.fields import too_long
from crm.meetings.models import Meeting
from crm.models import Client, Contact, Device, Entity, Event, Group, Identity, InboxRecord

# --- text the database can hold --------------------------------------------------

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# JSON escapes of NUL or of a surrogate; a pair of surrogates decodes to one
# character, but finding it is only a reason to look closer.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_FIELD_LENGTH = InboxRecord.__table__.c["field"].type.length


def may_hold_unstorable_text(content: bytes) -> bool:
    """False when no record read from these bytes can carry a NUL or a lone surrogate."""
    return b"\x00" in content or (b"\\u" in content and bool(_UNSTORABLE_ESCAPE.search(content)))


def unstorable_text(data) -> RecordError | None:
    """The first key or value of a record that the database cannot hold, if any."""
    found = _first_unstorable(data, "")
    if found is None:
        return None
    path, character = found
    if character == "\x00":
        problem = "contains a NUL character (U+0000), which text cannot hold"
    else:
        problem = f"contains an unpaired surrogate (U+{ord(character):04X}), which is not text"
    field = scrubbed(path) or None
    if field is not None and len(field) > _FIELD_LENGTH:
        field = field[: _FIELD_LENGTH - 1] + "…"
    return RecordError(None if field == "_raw" else field, problem)


def scrubbed(data):
    """The record with every character the database cannot hold shown as U+FFFD."""
    if isinstance(data, str):
        return _UNSTORABLE.sub("\ufffd", data)
    if isinstance(data, dict):
        return {scrubbed(key): scrubbed(value) for key, value in data.items()}
    if isinstance(data, list):
        return [scrubbed(item) for item in data]
    return data


def _first_unstorable(value, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        match = _UNSTORABLE.search(value)
        return (path, match.group()) if match else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _first_unstorable(key, where) or _first_unstorable(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unstorable(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


# --- values that fit their columns ---------------------------------------------


def _limits(table: Table, names) -> tuple[tuple[str, int], ...]:
    """(name, length) of each of these columns that has a length."""
    found = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, String) and column_type.length:
            found.append((name, column_type.length))
    return tuple(found)


_EVENT = _limits(
    Event.__table__, ("origin", "external_id", "kind", "title", "currency", "thread_key", "actor")
)
# What an event says about its thread lands on the thread's row.
_THREAD_STATE = _limits(Entity.__table__, ("status", "priority", "category", "assignee"))
_CLIENT = _limits(
    Client.__table__,
    ("slug", "name", "tier", "industry", "country", "language", "timezone", "account_manager"),
)
_CONTACT = _limits(Contact.__table__, ("name", "email", "phone", "role"))
_GROUP_KIND, _GROUP_NAME = (length for _, length in _limits(Group.__table__, ("kind", "name")))
_SYSTEM, _KEY = (length for _, length in _limits(Identity.__table__, ("system", "external_key")))
_DEVICE = _limits(Device.__table__, DEVICE_FIELDS)
# A meeting's title is cut to its column (crm.meetings.operations); these are not.
_MEETING = _limits(Meeting.__table__, ("external_id", "owner"))


def length_errors(events: EventColumns) -> dict[int, RecordError]:
    """The records some of whose events hold a value longer than its column,
    each with its first such field. A column at a time: in a whole column
    of fitting values, the longest fits."""
    errors: dict[int, RecordError] = {}
    for name, limit in _EVENT + _THREAD_STATE:
        column = events[name]
        if max(map(len, filter(None, column)), default=0) <= limit:
            continue
        for record, value in zip(events.record, column, strict=True):
            if value is not None and len(value) > limit and record not in errors:
                errors[record] = RecordError(name, too_long(limit))
    if any(events["aliases"]):
        for record, aliases in zip(events.record, events["aliases"], strict=True):
            try:
                _check_identities(aliases, "aliases")
            except RecordError as error:
                errors.setdefault(record, error)
    return errors


def check_lengths(
    items: list[ClientProfile | IdentityClaim | DeviceProfile | MeetingProfile],
) -> None:
    """Raise RecordError for the first value longer than its column."""
    for item in items:
        if isinstance(item, ClientProfile):
            _check(item, _CLIENT, "")
            for index, contact in enumerate(item.contacts):
                _check(contact, _CONTACT, f"contacts.{index}.")
            for index, (kind, name) in enumerate(item.groups):
                _check_text(f"groups.{index}.kind", kind, _GROUP_KIND)
                _check_text(f"groups.{index}.name", name, _GROUP_NAME)
            _check_identities(item.identities, "identities")
        elif isinstance(item, IdentityClaim):
            _check_identities(item.aliases, "aliases")
        elif isinstance(item, DeviceProfile):
            _check(item, _DEVICE, "")
        elif isinstance(item, MeetingProfile):
            _check(item, _MEETING, "")


def _check(item, limits: tuple[tuple[str, int], ...], prefix: str) -> None:
    for name, limit in limits:
        value = getattr(item, name)
        if value is not None and len(value) > limit:
            raise RecordError(prefix + name, too_long(limit))


def _check_identities(pairs, field: str) -> None:
    for index, (system, key) in enumerate(pairs):
        _check_text(f"{field}.{index}.system", system, _SYSTEM)
        _check_text(f"{field}.{index}.key", key, _KEY)


def _check_text(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise RecordError(field, too_long(limit))
