"""QuickBooks Online through its Accounting REST API (v3), with OAuth 2
(connections/oauth.py: the company is the `realmId` the authorization named).

Requests through our transport, not `python-quickbooks`: that library turns
each answer into its own objects, while the pipeline wants the answer as
QuickBooks sent it (the quickbooks connector reads query and Change Data
Capture answers, see connectors/quickbooks.py); its client also makes its
own HTTP calls with its own token handling (intuit-oauth), outside the
transport's 429 and backoff rules and Authlib's refresh. The calls are two,
both documented (developer.intuit.com, "Query" and "Change data capture").

Streams, customers first so that invoices, payments and credit memos find
their client: customers, invoices, payments, credit_memos,
recurring_transactions (the recurring invoice templates: MRR). Each but the
last:
- the first sync (a backfill) queries every entity,
  `SELECT * FROM Invoice ORDERBY Id STARTPOSITION n MAXRESULTS 1000` (1,000 is
  the query API's maximum), until a page comes back short; its state is the
  next position and the answer's `time` when the backfill began;
- later syncs ask `GET /cdc?entities=Invoice&changedSince=<cursor>`, the
  cursor being the `time` of the last CDC answer (QuickBooks' clock, not
  ours): only what changed comes back, deleted entities included (the
  connector skips them). CDC answers at most 1,000 entities: a full answer
  is followed by another from the latest `LastUpdatedTime` it held (again
  from that time: duplicates, never a skip). CDC looks back 30 days only, so
  an older cursor is caught up by a query `WHERE MetaData.LastUpdatedTime >=`.

Recurring transactions are queried whole at every sync
(`SELECT * FROM RecurringTransaction ORDERBY Id ...`, paged as above): Intuit
does not list RecurringTransaction among the entities Change Data Capture
tracks, and a provider has one template per client and service, so the whole
list is a page or two. Each template's versions are told apart by its
`SyncToken`, so reading an unchanged one again adds nothing. A template
deleted in QuickBooks no longer appears in the answer, and nothing names it
(Intuit's webhooks do not cover RecurringTransaction either: developer.intuit
.com, qbo/docs/develop/webhooks): make it inactive (or give it an end date)
to stop its MRR.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from connectors.accounting import parse_iso_time
from connectors.connections.sources.answers import read, said, token_refused
from connectors.connections.sources.base import AuthorizedSource, Page, Stream
from connectors.connections.transport import Transport

MINOR_VERSION = "75"
PAGE = 1000
CDC_LIMIT = 1000
CDC_DAYS = 29  # QuickBooks keeps 30 days of changes; a day's margin


class QuickBooksApi:
    def __init__(self, base_url: str, realm_id: str, transport: Transport):
        self.company = f"{base_url}/v3/company/{realm_id}"
        self.transport = transport

    def get(self, path: str, params: dict) -> tuple[bytes, dict]:
        response = self.transport.request(
            "GET",
            f"{self.company}/{path}",
            params=params | {"minorversion": MINOR_VERSION},
            headers={"Accept": "application/json"},
        )
        fault = said(response, _fault)
        problems = {
            401: token_refused("QuickBooks", fault),
            403: ("permission", f"QuickBooks: this app may not read the company (403{fault})"),
        }
        return response.content, read(response, "QuickBooks", path, problems, fault)


def _fault(body: dict) -> list:
    """QuickBooks' `Fault` (or `fault`) error's first message and detail."""
    fault = body.get("Fault") or body.get("fault")
    errors = (fault.get("Error") or fault.get("error")) if isinstance(fault, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return []
    return [first.get(k) for k in ("Message", "message", "Detail", "detail")]


class Entities(Stream):
    primary_key = "Id"
    cursor_field = "MetaData.LastUpdatedTime"
    entity: ClassVar[str]
    api: QuickBooksApi

    def pages(self, state: dict) -> Iterator[Page]:
        since = state.get("since")
        if "position" in state or not since:
            yield from self._query(state)
        elif parse_iso_time(since) < datetime.now(UTC) - timedelta(days=CDC_DAYS):
            yield from self._query({"position": 1, "from": since})
        else:
            yield from self._changes(since)

    def _query(self, state: dict) -> Iterator[Page]:
        position, began, since = state.get("position", 1), state.get("began"), state.get("from")
        where = f" WHERE MetaData.LastUpdatedTime >= '{since}'" if since else ""
        while True:
            query = (
                f"SELECT * FROM {self.entity}{where} ORDERBY Id"
                f" STARTPOSITION {position} MAXRESULTS {PAGE}"
            )
            body, document = self.api.get("query", {"query": query})
            began = began or document.get("time")
            found = (document.get("QueryResponse") or {}).get(self.entity) or []
            position += len(found)
            if len(found) < PAGE:
                yield Page(body, {"since": began} if began else {}, len(found))
                return
            rest = {"from": since} if since else {}
            yield Page(body, {"position": position, "began": began} | rest, len(found))

    def _changes(self, since: str) -> Iterator[Page]:
        while True:
            params = {"entities": self.entity, "changedSince": since}
            body, document = self.api.get("cdc", params)
            found = list(_changed(document, self.entity))
            if len(found) < CDC_LIMIT:
                yield Page(body, {"since": document.get("time") or since}, len(found))
                return
            latest = max(
                (str((e.get("MetaData") or {}).get("LastUpdatedTime") or "") for e in found),
                key=lambda text: parse_iso_time(text) if text else datetime.min.replace(tzinfo=UTC),
            )
            if not latest or latest == since:  # 1,000 changes in one instant: go on
                yield Page(body, {"since": document.get("time") or since}, len(found))
                return
            since = latest
            yield Page(body, {"since": since}, len(found))

    def probe(self) -> None:
        """One entity of the type."""
        self.api.get("query", {"query": f"SELECT * FROM {self.entity} MAXRESULTS 1"})


def _changed(document: dict, entity: str) -> Iterator[dict]:
    for answer in document.get("CDCResponse") or []:
        for part in (answer.get("QueryResponse") if isinstance(answer, dict) else None) or []:
            for item in (part.get(entity) if isinstance(part, dict) else None) or []:
                if isinstance(item, dict):
                    yield item


class RecurringTransactions(Entities):
    """Every recurring transaction at each sync (module docstring: why)."""

    name = "recurring_transactions"
    entity = "RecurringTransaction"

    def pages(self, state: dict) -> Iterator[Page]:
        """From where a sync cut short stopped, else from the first."""
        resumed = {key: state[key] for key in ("position", "began") if key in state}
        yield from self._query(resumed)


class QuickBooksSource(AuthorizedSource):
    vendor = "quickbooks"
    # Sandbox companies: https://sandbox-quickbooks.api.intuit.com
    default_base_url = "https://quickbooks.api.intuit.com"
    account = ("realm_id", "QuickBooks named no company")
    stream_classes = (
        Entities.named("customers", entity="Customer"),
        Entities.named("invoices", entity="Invoice"),
        Entities.named("payments", entity="Payment"),
        Entities.named("credit_memos", entity="CreditMemo"),
        RecurringTransactions,
    )

    def api_for(self, account: str) -> QuickBooksApi:
        return QuickBooksApi(self.base_url, account, self.transport)
