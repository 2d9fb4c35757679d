"""The `salesforce` connector: Opportunity exports as Salesforce writes them.

Shapes: a Data Loader CSV (API names, often upper-case: `ID`, `STAGENAME`), a
report CSV (labels: `Opportunity Name`, `Close Date`, US dates, the
"Confidential Information" footer), JSON from the REST query API
(`{"records": [{"attributes": {...}, ...}]}`), and what `sf data export tree`
writes: tree files with references instead of ids, nested or split by a plan,
a ZIP archive of them, or a CSV made from them (connectors.salesforce_export
resolves the references). Headers match by API name or label, ignoring case,
spaces and punctuation.

An export says how each opportunity stands *now*, so one state (stage, amount,
close date) is one event: re-importing is a duplicate, every change a new
fact. Closed Won/Lost (or the IsWon/IsClosed flags) close the deal; any other
stage is an open quote with the stage as its status. A renewal (`Type`
containing "renewal") opens a renewal thread due on its close date, and its
win or loss closes that thread (renewal.renewed / renewal.cancelled) rather
than a deal thread it never opened.

When things happened (docs/formats.md):
- The thread opens at CreatedDate, even when the first state we see is a
  later one or the win: the record implies the opening (quote.sent or
  renewal.due, id "KEY:created", see connectors.lifecycle). A state exported
  before any change (LastModifiedDate equal to CreatedDate) is that opening.
- An open state happens at LastModifiedDate, the latest it is known to have
  stood so. Without one, at the time it is received: not at CreatedDate
  (every later state exported without dates would tie with it) and never at
  CloseDate, a due date that is often ahead.
- A win or loss happens at the close date, or at LastModifiedDate (else
  CreatedDate) when later, so a back-dated close never sorts before the open
  states it ends; never after it is received (a deal already won with a close
  date ahead was won by now). Without CloseDate, at LastModifiedDate; a
  closed record with neither is rejected.
  Dates without a time are midnight UTC.

Keys and clients, all visible on the event:
- The account is the client: its id (identity system `salesforce`, always
  the 18-character form: reports show 15) from `AccountId` or the `Account`
  parent; when an export gives no id, the account's name (system
  `salesforce-name`), which the unmatched queue shows and suggests clients for.
- Account records (a tree export's, the REST API's) are identity claims:
  mapped by name or id, they register both for the client.
- Without an `Id` (reports, tree exports) the opportunity is keyed
  "nokey-" + sha1(account id, else name; its name; created day), stable
  across re-imports and across exports.
- Without `CurrencyIsoCode` (single-currency orgs have none) the amount is in
  the org's currency: setting `TOUCHLINE_SALESFORCE_CURRENCY`, default USD,
  marked `currency_assumed` in the attributes.
"""

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import current_app, has_app_context
from marshmallow import ValidationError

from connectors.base import CanonicalEvent, Connector, IdentityClaim, RecordError, Skip
from connectors.lifecycle import Moment, implied
from connectors.readers import Record, format_of
from connectors.registry import register
from connectors.salesforce_export import (
    archive_records,
    expand,
    field,
    is_archive,
    is_plan_entry,
    object_type,
)
from connectors.salesforce_schema import (
    ALIASES,
    FOOTER,
    OpportunitySchema,
    account_of,
    id_from_url,
    normalise_header,
    salesforce_id,
)
from crm.identities import ClientHints

SETTING = "TOUCHLINE_SALESFORCE_CURRENCY"
DEFAULT_CURRENCY = "USD"
# How a client is known by the name of its Salesforce account, where an
# export gives no account id (see connectors.suggestions, connectors.review).
NAME_SYSTEM = "salesforce-name"


def configured_currency() -> str:
    """The org's currency for exports without CurrencyIsoCode."""
    value = current_app.config.get(SETTING) if has_app_context() else None
    return (value or os.environ.get(SETTING) or DEFAULT_CURRENCY).upper()


@register
class SalesforceConnector(Connector):
    """Salesforce Opportunities, and Accounts as claims; the account is the client."""

    name = "salesforce"
    # Events' origin: the same for every way Salesforce's records arrive
    # (exports, outbound messages), so one state is one fact.
    origin = "salesforce"
    natural_key = ("Id", "StageName", "Amount", "CloseDate")
    schema = OpportunitySchema
    default_format = "csv"

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """A ZIP archive's files, or one file; JSON unwrapped from its
        `{"records": [...]}` documents with children out of their parents and
        references resolved (connectors.salesforce_export); a report's
        trailing footer dropped."""
        if is_archive(content):
            return iter(expand(archive_records(content)))
        records = super().parse(content, filename)
        if format_of(filename, self.default_format) == "json":
            return iter(expand((None, record, None) for record in records))
        return iter(_without_footer(list(records)))

    def schema_applies(self, data: dict) -> bool:
        """Accounts, plan entries and other objects reach convert, which reads
        or skips them by name."""
        return (object_type(data) or "Opportunity") == "Opportunity" and not is_plan_entry(data)

    def key_of(self, data: dict) -> str:
        """The external id when the record loads (so two Id-less opportunities
        never share an inbox key), else its raw identifying values."""
        if not self.schema_applies(data):
            kind = data.get("sobject") if is_plan_entry(data) else object_type(data)
            return ":".join(str(v or "") for v in (kind, field(data, "id"), field(data, "name")))
        try:
            return _external_id(self.schema().load(data))
        except ValidationError:
            values = {ALIASES.get(normalise_header(str(k))): v for k, v in data.items()}
            names = ("Id", "AccountId", "Name", "StageName", "Amount", "CloseDate")
            return ":".join(str(values.get(name) or "") for name in names)

    def convert(self, data: dict) -> list[CanonicalEvent | IdentityClaim]:
        if is_plan_entry(data):
            raise Skip(
                f"a data plan entry names the export's {data['sobject']} files "
                f"({', '.join(map(str, data['files']))}); send them with this plan in one "
                "ZIP archive"
            )
        object_name = object_type(data) or "Opportunity"
        if object_name == "Account":
            return [_account_claim(data)]
        if object_name != "Opportunity":
            raise Skip(
                f"salesforce {object_name} records are not mapped, only Opportunity and Account"
            )
        return _opportunity_events(self.origin, data)


def _opportunity_events(origin: str, data: dict) -> list[CanonicalEvent]:
    """The state the record gives, and the opening it implies (see the
    module's docstring for the times)."""
    key = data["Id"] or _derived_key(data)
    stage, close = _stage(data), data["CloseDate"]
    amount, currency = data["Amount"] or (None, None)
    account_id, account_name = account_of(data)
    attributes = {"stage": stage, "salesforce_id": data["Id"], "account_id": account_id}
    if amount is not None:
        currency = (data["CurrencyIsoCode"] or currency or "").upper()
        if not currency:
            currency = configured_currency()
            attributes["currency_assumed"] = True
    kind, verb, due_at = _kind(data, stage, close)
    name = data["Name"] or key
    money = f" ({currency} {amount:,.2f})" if amount is not None else ""
    created = data["CreatedDate"]
    occurred_at = _occurred_at(data, kind)
    reference = data["AccountId"] if (data["AccountId"] or "").startswith("@") else None
    for field_name, value in (
        ("type", data["Type"]),
        ("probability", data["Probability"]),
        ("accountname", account_name),
        ("account_reference", reference),
        ("createddate", _iso(created)),
        ("lastmodifieddate", _iso(data["LastModifiedDate"])),
    ):
        if value is not None:
            attributes[field_name] = value
    if data["other"]:
        attributes["salesforce_fields"] = data["other"]
    opening = f"{key}:created"
    event = CanonicalEvent(
        origin=origin,
        external_id=opening if _is_opening(kind, occurred_at, created) else _external_id(data),
        kind=kind,
        occurred_at=occurred_at,
        hints=_hints(account_id, account_name),
        title=f"{verb}: {name}{money}"[:500],
        detail=data["Description"],
        amount=amount,
        currency=currency if amount is not None else None,
        thread_key=key,
        actor=data["Owner"],
        attributes=attributes,
        status=stage[:32] if kind == "quote.sent" else None,
        due_at=due_at,
    )
    what = "Renewal opportunity" if kind.startswith("renewal.") else "Opportunity"
    title = f"{what} created: {name}{money}"[:500]
    return implied(event, opened=Moment(created, opening, title=title))


def _occurred_at(data: dict, kind: str) -> datetime:
    """When the record's state held (see the module's docstring)."""
    received = datetime.now(UTC)
    modified, close = data["LastModifiedDate"], data["CloseDate"]
    if kind in ("quote.sent", "renewal.due"):
        return modified or received
    later = modified or data["CreatedDate"]
    if close is None:
        if modified is None:
            raise RecordError(
                "CloseDate", "is required for a closed opportunity without LastModifiedDate"
            )
        return modified
    return min(max(close, later) if later else close, received)


def _is_opening(kind: str, occurred_at: datetime, created: datetime | None) -> bool:
    """Whether an open state is the one the opportunity was created in: one
    exported before any change, whose LastModifiedDate is its CreatedDate."""
    return kind in ("quote.sent", "renewal.due") and occurred_at == created


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _hints(account_id: str | None, account_name: str | None) -> ClientHints:
    if account_id:
        return ClientHints(identities=(("salesforce", account_id),))
    return ClientHints(identities=((NAME_SYSTEM, _name_key(account_name)),))


def _name_key(name: str) -> str:
    """An account name as an identity key: as Salesforce wrote it, spaces tidied."""
    return " ".join(str(name).split())


def _account_claim(data: dict) -> IdentityClaim:
    """An Account names its client by id (where the export kept it) and by
    name; known by either, it registers both (see connectors.base.IdentityClaim)."""
    names = []
    account_id = field(data, "id") or id_from_url(data)
    if account_id not in (None, ""):
        try:
            names.append(("salesforce", salesforce_id(account_id)))
        except ValueError as error:
            raise RecordError("Id", str(error)) from None
    name = field(data, "name")
    if isinstance(name, str | int) and _name_key(name):
        names.append((NAME_SYSTEM, _name_key(name)))
    if not names:
        raise Skip("a salesforce Account without Id or Name names no client")
    return IdentityClaim(hints=ClientHints(identities=tuple(names)), aliases=tuple(names))


def _stage(data: dict) -> str:
    """The stage name, or what the IsClosed/IsWon flags say it is."""
    if data["StageName"]:
        return data["StageName"]
    if not data["IsClosed"]:
        return "Open"
    return "Closed Won" if data["IsWon"] else "Closed Lost"


def _kind(data: dict, stage: str, close: datetime | None) -> tuple[str, str, datetime | None]:
    """(kind, title verb, due date): the flags decide when exported, else the
    standard stage names."""
    lowered = stage.lower()
    won = data["IsWon"] if data["IsWon"] is not None else lowered == "closed won"
    closed = (
        data["IsClosed"]
        if data["IsClosed"] is not None
        else lowered in ("closed won", "closed lost")
    )
    renewal = "renewal" in (data["Type"] or "").lower()
    if won or closed:
        if renewal:
            return (
                ("renewal.renewed", "Renewal won", None)
                if won
                else ("renewal.cancelled", "Renewal lost", None)
            )
        return ("deal.won", "Deal won", None) if won else ("deal.lost", "Deal lost", None)
    if renewal:
        due = f"Renewal due {close.date().isoformat()}" if close else "Renewal open"
        return "renewal.due", due, close
    return "quote.sent", f"Opportunity {stage}", close


def _external_id(data: dict) -> str:
    """One state of one opportunity: its key, stage, amount and close date."""
    amount = data["Amount"][0] if data["Amount"] else None
    amount_text = format(amount.normalize(), "f") if amount is not None else ""
    key = data["Id"] or _derived_key(data)
    close = data["CloseDate"].date().isoformat() if data["CloseDate"] else ""
    return f"{key}:{_stage(data)}:{amount_text}:{close}"[:200]


def _derived_key(data: dict) -> str:
    """A stable key for an export without Ids: the account (its id, else its
    name: a tree export's references are numbered anew in every export), the
    opportunity's name, its created day."""
    account_id, account_name = account_of(data)
    account = account_id or f"name:{_name_key(account_name)}"
    created = data["CreatedDate"].date().isoformat() if data["CreatedDate"] else ""
    text = "\x1f".join((account, data["Name"] or "", created))
    return "nokey-" + hashlib.sha1(text.encode()).hexdigest()[:20]


def _without_footer(records: list[Record]) -> list[Record]:
    """A report export ends with one-cell rows: a blank, the report name,
    "Copyright (c) ... salesforce.com", "Confidential Information", "Generated
    By: ...". Drop that tail when it carries such a line."""
    end = len(records)
    while end and len(records[end - 1].data) <= 1:
        end -= 1
    tail = records[end:]
    if any(FOOTER.search(str(value)) for r in tail for value in r.data.values()):
        return records[:end]
    return records
