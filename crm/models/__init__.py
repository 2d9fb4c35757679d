"""All models, imported here so Alembic and the app see one metadata."""

from crm.models.clients import Client, Contact, Group, Identity, client_groups
from crm.models.devices import Device
from crm.models.inbox import InboxHint, InboxRecord, IngestRun, RawPayload, RawPayloadPart
from crm.models.timeline import CollectedMonth, DayCount, Entity, Event, is_meeting
from crm.search import index as _search_index  # noqa: F401  (creates the search index with the tables)

__all__ = [
    "Client",
    "CollectedMonth",
    "Contact",
    "DayCount",
    "Device",
    "Entity",
    "Event",
    "Group",
    "Identity",
    "InboxHint",
    "InboxRecord",
    "IngestRun",
    "RawPayload",
    "RawPayloadPart",
    "client_groups",
    "is_meeting",
]
