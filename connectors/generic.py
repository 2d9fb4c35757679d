"""The generic formats: one connector per source, so any system can export to us.

`billing`, `rmm`, `tickets`, `marketing` and `sales` take exports of those
systems; `manual` takes our own touches (notes, calls, meetings, commitments)
brought over from another CRM or a spreadsheet.

Each reads CSV, a JSON array or NDJSON (chosen by file extension) with the
columns documented in docs/formats.md. Columns that are not part of the
format are kept on the event as attributes.

A record of a thread may say when the thread was opened (`opened_at`) or
closed (`closed_at`), as an export of a PSA's tickets says when each was
created and solved: the record then implies those moments as events
(connectors.lifecycle), `<thread>:opened` and `<thread>:closed` of the same
system, so every record of the thread implies the same two.
"""

import functools
from collections.abc import Sequence
from typing import ClassVar

from connectors.base import Connector, ConvertedBatch, EventColumns, RecordError, Skip
from connectors.fields import (
    CheckedColumns,
    Field,
    Rule,
    build_schema,
    load_columns,
    validate_columns,
)
from connectors.lifecycle import Moment, implied
from connectors.readers import Record
from connectors.registry import register
from crm.identities import ClientHints
from crm.vocabulary import CLOSES, KINDS, OPENING_KIND, kinds_of

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
    Field("opened_at", "datetime"),
    Field("closed_at", "datetime"),
    Field("attributes", "json"),
)


def _names_a_client(client, account, email) -> RecordError | None:
    if not (client or account or email):
        return RecordError("client", "is required: give at least one of client, account or email")
    return None


def _amount_has_currency(amount, currency) -> RecordError | None:
    if amount is not None and not currency:
        return RecordError("currency", "is required when amount is given")
    return None


def _closes_its_thread(kind, thread, closed_at) -> RecordError | None:
    """A closing time is implied as the event that closed the thread: one of
    the kind's own thread, which only a record of a closing kind names."""
    if closed_at is None or kind not in KINDS:
        return None
    if KINDS[kind].stage != CLOSES or not thread:
        return RecordError("closed_at", "is only read on a closing kind's record with a thread")
    return None


def _opens_a_thread(kind, thread, opened_at) -> RecordError | None:
    if opened_at is None or kind not in KINDS:
        return None
    if KINDS[kind].thread not in OPENING_KIND or not thread:
        return RecordError("opened_at", "is only read on a record of a thread that keeps a state")
    return None


EVENT_RULES = (
    Rule(("client", "account", "email"), _names_a_client),
    Rule(("amount", "currency"), _amount_has_currency),
    Rule(("kind", "thread", "opened_at"), _opens_a_thread),
    Rule(("kind", "thread", "closed_at"), _closes_its_thread),
)
GenericEventSchema = build_schema("GenericEventSchema", EVENT_FIELDS, EVENT_RULES)

# Below this many records the per-record schema is as fast as the column check.
FRAME_THRESHOLD = 200
_SUMMARY = {name: kind.summary for name, kind in KINDS.items()}


class GenericEventConnector(Connector):
    """Events in the generic formats, converted a batch at a time, column by column."""

    # The timeline source whose kinds it takes (a vendor connector's events
    # each take theirs from their kind: crm.vocabulary.KINDS).
    source: ClassVar[str]
    natural_key = ("system", "id")
    schema = GenericEventSchema

    def check(self, records: Sequence[Record]) -> CheckedColumns:
        """The records checked against the format: by the marshmallow schema
        for a few (a webhook, a small file), column by column for many."""
        if len(records) < FRAME_THRESHOLD:
            return load_columns(self.schema(), records, EVENT_FIELDS)
        return validate_columns(records, EVENT_FIELDS, EVENT_RULES)

    def validate(self, records: Sequence[Record]) -> list:
        return self.check(records).results()

    def key_of(self, data: dict) -> str:
        return f"{data.get('system') or self.name}:{data.get('id', '')}"

    def convert_batch(self, records: Sequence[Record]) -> ConvertedBatch:
        checked = self.check(records)
        kinds = checked.columns["kind"]
        allowed = set(kinds_of(self.source))
        failed: dict[int, RecordError | Skip] = {}
        if not any(checked.errors) and allowed.issuperset(kinds):
            keep = range(len(kinds))
        else:
            keep = []
            for position, (kind, error) in enumerate(zip(kinds, checked.errors, strict=True)):
                if error is not None:
                    failed[position] = error
                elif kind not in allowed:
                    failed[position] = self._not_ours(kind)
                else:
                    keep.append(position)
        return ConvertedBatch(
            self._with_implied(self._events(checked, keep), checked), failed=failed
        )

    def _not_ours(self, kind: str) -> Skip:
        known = "known" if kind in KINDS else "unknown"
        return Skip(
            f"kind {kind!r} is not a {self.source} kind ({known} kind); "
            f"{self.source} kinds: {', '.join(kinds_of(self.source))}"
        )

    def _events(self, checked: CheckedColumns, keep: Sequence[int]) -> EventColumns:
        """The events of the records at `keep`: one each, column by column."""
        everything = len(keep) == len(checked.errors)

        def column(name: str) -> list:
            values = checked.columns[name]
            return values if everything else [values[i] for i in keep]

        kinds, extra = column("kind"), checked.extra
        extra = extra if everything else [extra[i] for i in keep]
        # Columns that are not part of the format are kept as attributes.
        attributes = [
            {**(given or {}), **more}
            for given, more in zip(column("attributes"), extra, strict=True)
        ]
        _name_alerts(kinds, attributes, column("category"))
        return EventColumns(
            list(keep),
            {
                "origin": [system or self.name for system in column("system")],
                "external_id": column("id"),
                "kind": kinds,
                "occurred_at": column("occurred_at"),
                "hints": list(map(_hints, column("client"), column("account"), column("email"))),
                "title": [
                    title or _SUMMARY[kind]
                    for title, kind in zip(column("title"), kinds, strict=True)
                ],
                "detail": column("detail"),
                "amount": column("amount"),
                "currency": column("currency"),
                "thread_key": column("thread"),
                "actor": column("actor"),
                "url": column("url"),
                "attributes": attributes,
                "status": column("status"),
                "due_at": column("due_at"),
                "priority": _alert_priorities(kinds, column("priority"), attributes),
                "category": column("category"),
                "assignee": column("assignee"),
                "sla_due_at": column("sla_due_at"),
            },
        )

    def _with_implied(self, events: EventColumns, checked: CheckedColumns) -> EventColumns:
        """The events with the moments their records imply (see the module's
        docstring); most files give none, and cost nothing more."""
        opened, closed = checked.columns["opened_at"], checked.columns["closed_at"]
        if not any(opened) and not any(closed):
            return events
        record = events.record
        converted = []
        for i, position in enumerate(record):
            event = events.event(i)
            thread = event.thread_key
            converted.append(
                (
                    position,
                    implied(
                        event,
                        _moment(opened[position], f"{thread}:opened"),
                        _moment(closed[position], f"{thread}:closed"),
                    ),
                )
            )
        return EventColumns.from_events(converted)


# An alert's severity is its thread's priority, where the flags read a
# critical alert (crm.flags); an export that names it `severity` means that.
SEVERITY = "severity"
# Recurrence (crm.flags) groups alerts by device and check, the `instance` and
# `alertname` attributes Alertmanager's labels give: an RMM export names them
# `device` (an extra column) and `category`.
DEVICE = "device"


def _alert_priorities(kinds: list, priorities: list, attributes: list[dict]) -> list:
    """Each event's priority: an alert without one takes its `severity`."""
    if all(priority is not None or not kind.startswith("alert.") for kind, priority in
           zip(kinds, priorities, strict=True)):  # fmt: skip
        return priorities
    return [
        _text(attrs.get(SEVERITY)) if priority is None and kind.startswith("alert.") else priority
        for kind, priority, attrs in zip(kinds, priorities, attributes, strict=True)
    ]


def _name_alerts(kinds: list, attributes: list[dict], categories: list) -> None:
    """Give each alert's attributes the device and check recurrence groups by
    (`instance`, `alertname`), from what a generic export calls them, where
    it does not give them itself."""
    for kind, attrs, category in zip(kinds, attributes, categories, strict=True):
        if kind.startswith("alert."):
            if attrs.get("instance") is None and attrs.get(DEVICE) is not None:
                attrs["instance"] = attrs[DEVICE]
            if attrs.get("alertname") is None and category is not None:
                attrs["alertname"] = category


def _text(value) -> str | None:
    """A severity as a priority: text, at most the column's 32 characters."""
    return str(value)[:32] if value not in (None, "") else None


def _moment(at, external_id: str) -> Moment | None:
    return Moment(at, external_id) if at is not None else None


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
