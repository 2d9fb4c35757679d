"""The generic formats: one connector per source, so any system can export to us.

`billing`, `rmm`, `tickets`, `marketing` and `sales` take exports of those
systems; `manual` takes our own touches (notes, calls, meetings, commitments)
brought over from another CRM or a spreadsheet.

Each reads CSV, a JSON array or NDJSON (chosen by file extension) with the
columns documented in docs/formats.md. Columns that are not part of the
format are kept on the event as attributes.
"""

import functools
from collections.abc import Sequence

from connectors.base import CanonicalEvent, Connector, RecordError, Skip
from connectors.fields import Field, build_schema, validate_columns
from connectors.readers import Record
from connectors.registry import register
from crm.identities import ClientHints
from crm.vocabulary import KINDS, kinds_of

EVENT_FIELDS = (
    Field("id", "text", required=True, max_length=200),
    Field("system", "text", max_length=40),
    Field("kind", "text", required=True, max_length=40),
    Field("occurred_at", "datetime", required=True),
    Field("client", "text", max_length=80),
    Field("account", "text", max_length=200),
    Field("email", "text", max_length=254),
    Field("title", "text", max_length=500),
    Field("detail", "text"),
    Field("amount", "decimal"),
    Field("currency", "currency"),
    Field("thread", "text", max_length=200),
    Field("actor", "text", max_length=200),
    Field("url", "text"),
    Field("status", "text", max_length=32),
    Field("due_at", "datetime"),
    Field("priority", "text", max_length=32),
    Field("category", "text", max_length=80),
    Field("assignee", "text", max_length=200),
    Field("sla_due_at", "datetime"),
    Field("attributes", "json"),
)


def _names_a_client(row: dict) -> RecordError | None:
    if not (row.get("client") or row.get("account") or row.get("email")):
        return RecordError("client", "is required: give at least one of client, account or email")
    return None


def _amount_has_currency(row: dict) -> RecordError | None:
    if row.get("amount") is not None and not row.get("currency"):
        return RecordError("currency", "is required when amount is given")
    return None


EVENT_RULES = (_names_a_client, _amount_has_currency)
GenericEventSchema = build_schema("GenericEventSchema", EVENT_FIELDS, EVENT_RULES)

# Below this many records the per-record schema is as fast as the column check.
FRAME_THRESHOLD = 200


class GenericEventConnector(Connector):
    natural_key = ("system", "id")
    schema = GenericEventSchema

    def validate(self, records: Sequence[Record]) -> list:
        if len(records) < FRAME_THRESHOLD:
            return super().validate(records)
        return validate_columns(records, EVENT_FIELDS, EVENT_RULES)

    def key_of(self, data: dict) -> str:
        return f"{data.get('system') or self.name}:{data.get('id', '')}"

    def convert(self, data: dict) -> list[CanonicalEvent]:
        kind = data["kind"]
        if kind not in kinds_of(self.source):
            known = "known" if kind in KINDS else "unknown"
            raise Skip(
                f"kind {kind!r} is not a {self.source} kind ({known} kind); "
                f"{self.source} kinds: {', '.join(kinds_of(self.source))}"
            )
        hints = _hints(data["client"], data["account"], data["email"])
        attributes = dict(data["attributes"] or {}) | data["extra"]
        return [
            CanonicalEvent(
                origin=data["system"] or self.name,
                external_id=data["id"],
                kind=kind,
                occurred_at=data["occurred_at"],
                hints=hints,
                title=data["title"] or KINDS[kind].summary,
                detail=data["detail"],
                amount=data["amount"],
                currency=data["currency"],
                thread_key=data["thread"],
                actor=data["actor"],
                url=data["url"],
                attributes=attributes,
                status=data["status"],
                due_at=data["due_at"],
                priority=data["priority"],
                category=data["category"],
                assignee=data["assignee"],
                sla_due_at=data["sla_due_at"],
            )
        ]


@functools.lru_cache(maxsize=4096)
def _hints(client: str | None, account: str | None, email: str | None) -> ClientHints:
    """The hints of a record; a file names the same clients over and over,
    and building a ClientHints costs more than finding it here."""
    return ClientHints(
        slug=client,
        identities=(("account", account),) if account else (),
        emails=(email,) if email else (),
    )


def _generic(source: str) -> type[GenericEventConnector]:
    cls = type(
        f"{source.title()}Connector",
        (GenericEventConnector,),
        {"name": source, "source": source, "__doc__": f"Generic {source} events."},
    )
    return register(cls)


BillingConnector = _generic("billing")
RmmConnector = _generic("rmm")
TicketsConnector = _generic("tickets")
MarketingConnector = _generic("marketing")
SalesConnector = _generic("sales")
# Notes, calls, meetings and commitments kept in another CRM or a spreadsheet.
ManualConnector = _generic("manual")
