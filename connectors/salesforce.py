"""The `salesforce` connector: Opportunity exports as Salesforce writes them.

Three shapes: a Data Loader CSV (API names, often upper-case: `ID`,
`STAGENAME`), a report CSV (labels: `Opportunity Name`, `Close Date`, US dates,
the "Confidential Information" footer), and JSON from `sfdx force:data:tree:export`
or the REST query API (`{"records": [{"attributes": {...}, ...}]}`). Headers
match by API name or label, ignoring case, spaces and punctuation.

An export says how each opportunity stands *now*, so one state (stage, amount,
close date) is one event: re-importing is a duplicate, every change a new
fact. Closed Won/Lost (or the IsWon/IsClosed flags) close the deal; any other
stage is an open quote with the stage as its status. A renewal (`Type`
containing "renewal") opens a renewal thread due on its close date, and its
win or loss closes that thread (renewal.renewed / renewal.cancelled) rather
than a deal thread it never opened.

Assumptions, all visible on the event:
- `AccountId` is the client key (identity system `salesforce`), always in the
  18-character form: reports show 15-character ids, which are extended.
- Without an `Id` column (reports, tree exports) the opportunity is keyed
  "nokey-" + sha1(account id, name, created date), stable across re-imports.
- Without `CurrencyIsoCode` (single-currency orgs have none) the amount is in
  the org's currency: setting `TOUCHLINE_SALESFORCE_CURRENCY`, default USD,
  marked `currency_assumed` in the attributes.
- Open states happen at LastModifiedDate, else CreatedDate, else the close
  date; a win or loss at the close date, or at LastModifiedDate/CreatedDate if
  later, so a back-dated close never sorts before the open states it ends.
  Dates without a time are midnight UTC.
"""

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime

from flask import current_app, has_app_context
from marshmallow import ValidationError

from connectors.base import CanonicalEvent, Connector, Skip
from connectors.readers import Record
from connectors.registry import register
from connectors.salesforce_schema import ALIASES, FOOTER, OpportunitySchema, normalise_header
from crm.identities import ClientHints

SETTING = "TOUCHLINE_SALESFORCE_CURRENCY"
DEFAULT_CURRENCY = "USD"


def configured_currency() -> str:
    """The org's currency for exports without CurrencyIsoCode."""
    value = current_app.config.get(SETTING) if has_app_context() else None
    return (value or os.environ.get(SETTING) or DEFAULT_CURRENCY).upper()


@register
class SalesforceConnector(Connector):
    """Salesforce Opportunities; the account is the client."""

    name = "salesforce"
    source = "sales"
    natural_key = ("Id", "StageName", "Amount", "CloseDate")
    schema = OpportunitySchema
    default_format = "csv"

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """Unwrap `{"records": [...]}` and drop a report's trailing footer."""
        records = list(super().parse(content, filename))
        if len(records) == 1 and isinstance(records[0].data.get("records"), list):
            inner = records[0].data["records"]
            return (
                Record(i, f"records[{i}]", item if isinstance(item, dict) else {"_raw": item},
                       None if isinstance(item, dict) else "is not a JSON object")
                for i, item in enumerate(inner)
            )  # fmt: skip
        return iter(_without_footer(records))

    def schema_applies(self, data: dict) -> bool:
        """Other objects (a tree export's Accounts) reach convert, which names
        and skips them."""
        return _object_type(data) == "Opportunity"

    def key_of(self, data: dict) -> str:
        """The external id when the record loads (so two Id-less opportunities
        never share an inbox key), else its raw identifying values."""
        try:
            return _external_id(self.schema().load(data))
        except ValidationError:
            values = {ALIASES.get(normalise_header(str(k))): v for k, v in data.items()}
            names = ("Id", "AccountId", "Name", "StageName", "Amount", "CloseDate")
            return ":".join(str(values.get(name) or "") for name in names)

    def convert(self, data: dict) -> list[CanonicalEvent]:
        if (object_type := _object_type(data)) != "Opportunity":
            raise Skip(
                f"salesforce {object_type} records are not mapped, only Opportunity "
                "(export opportunities as their own query, not nested under accounts)"
            )
        key = data["Id"] or _derived_key(data)
        stage, close = data["StageName"], data["CloseDate"]
        amount, currency = data["Amount"] or (None, None)
        attributes = {"stage": stage, "salesforce_id": data["Id"], "account_id": data["AccountId"]}
        if amount is not None:
            currency = (data["CurrencyIsoCode"] or currency or "").upper()
            if not currency:
                currency = configured_currency()
                attributes["currency_assumed"] = True
        kind, verb, due_at = _kind(data, close)
        name = data["Name"] or key
        money = f" ({currency} {amount:,.2f})" if amount is not None else ""
        later = data["LastModifiedDate"] or data["CreatedDate"]
        if kind.startswith("deal.") or kind in ("renewal.renewed", "renewal.cancelled"):
            occurred_at = max(close, later) if later else close
        else:
            occurred_at = later or close
        for field in ("Type", "Probability", "AccountName", "CreatedDate", "LastModifiedDate"):
            if data[field] is not None:
                value = data[field]
                attributes[field.lower()] = (
                    value.isoformat() if isinstance(value, datetime) else value
                )
        if data["other"]:
            attributes["salesforce_fields"] = data["other"]
        return [
            CanonicalEvent(
                origin=self.name,
                external_id=_external_id(data),
                kind=kind,
                occurred_at=occurred_at,
                hints=ClientHints(identities=(("salesforce", data["AccountId"]),)),
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
        ]


def _object_type(data: dict) -> str:
    attributes = data.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    return str(kind or "Opportunity")


def _kind(data: dict, close: datetime) -> tuple[str, str, datetime | None]:
    """(kind, title verb, due date): the flags decide when exported, else the
    standard stage names."""
    stage = data["StageName"].lower()
    won = data["IsWon"] if data["IsWon"] is not None else stage == "closed won"
    closed = (
        data["IsClosed"] if data["IsClosed"] is not None else stage in ("closed won", "closed lost")
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
        return "renewal.due", f"Renewal due {close.date().isoformat()}", close
    return "quote.sent", f"Opportunity {data['StageName']}", close


def _external_id(data: dict) -> str:
    """One state of one opportunity: its key, stage, amount and close date."""
    amount = data["Amount"][0] if data["Amount"] else None
    amount_text = format(amount.normalize(), "f") if amount is not None else ""
    key = data["Id"] or _derived_key(data)
    return f"{key}:{data['StageName']}:{amount_text}:{data['CloseDate'].date().isoformat()}"[:200]


def _derived_key(data: dict) -> str:
    """A stable key for an export without Ids: account, name, created day."""
    created = data["CreatedDate"].date().isoformat() if data["CreatedDate"] else ""
    text = "\x1f".join((data["AccountId"], data["Name"] or "", created))
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
