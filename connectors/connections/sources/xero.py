"""Xero's Accounting API through our transport, with OAuth 2
(connections/oauth.py: the organisation is the tenant `GET /connections`
named when the admin authorized; each request carries it as
`Xero-Tenant-Id`).

Not `xero-python`: its generated client sends HTTP with urllib3 directly, so
neither the transport's 429/Retry-After and backoff rules nor Authlib's
refresh would apply, nor can a test replay it with `responses`; and it turns
each answer into its models, while the xero connector reads the answers as
Xero sends them (connectors/xero.py, Microsoft JSON dates and all). The
calls are four list endpoints, documented (developer.xero.com, Accounting
API: Contacts, Invoices, Payments, CreditNotes; "Requests and responses":
paging and If-Modified-Since).

Streams, contacts first so that the others find their client: contacts,
invoices (`Type=="ACCREC"`: sales only), payments, credit_notes
(`Type=="ACCRECCREDIT"`). Each lists `page=1, 2, ...` (100 a page, Xero's
default), ordered by `UpdatedDateUTC`, until a short page or the last one
`pagination.pageCount` names. The cursor is the latest `UpdatedDateUTC`
stored, sent as `If-Modified-Since` on the next sync so that only what
changed since comes back (from that instant: a duplicate, never a skip).
Mid-way, the state holds the next page with the cursor it began from.
Xero's limits (60 calls a minute per organisation) answer 429 with
Retry-After, which the transport waits out.

Then repeating_invoices (`Type=="ACCREC"`: the sales templates, MRR), read
whole at every sync in one call: Xero documents neither paging nor
If-Modified-Since for `GET /RepeatingInvoices`, and a template carries no
UpdatedDateUTC to keep as a cursor; a provider has one per client and
service, a short list. The answer's `DateTimeUTC` dates what it says (a
template found DELETED ends then); templates read unchanged add nothing.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import ClassVar

from connectors.connections.sources.answers import read, said, token_refused
from connectors.connections.sources.base import AuthorizedSource, Page, Stream, latest_time
from connectors.connections.transport import Transport
from connectors.xero import parse_time

PAGE = 100
SALES = 'Type=="ACCREC"'
SALES_CREDIT = 'Type=="ACCRECCREDIT"'


class XeroApi:
    def __init__(self, base_url: str, tenant_id: str, transport: Transport):
        self.base_url = base_url
        self.transport = transport
        self.headers = {"Xero-Tenant-Id": tenant_id, "Accept": "application/json"}

    def get(self, path: str, params: dict, since: str | None = None) -> tuple[bytes, dict]:
        headers = self.headers | ({"If-Modified-Since": since} if since else {})
        response = self.transport.request(
            "GET", f"{self.base_url}/{path}", params=params, headers=headers
        )
        # The error's `Title`/`Detail` (identity and API errors), if it says.
        problem = said(response, lambda body: [body.get(k) for k in ("Title", "Detail", "Message")])
        problems = {
            401: token_refused("Xero", problem),
            403: (
                "permission",
                f"Xero: this app may not read {path} of the organisation (403{problem})",
            ),
        }
        return response.content, read(response, "Xero", path, problems, problem)


class Listed(Stream):
    primary_key: ClassVar[str]
    cursor_field = "UpdatedDateUTC"
    path: ClassVar[str]
    where: ClassVar[str | None] = None
    api: XeroApi

    def params(self, page: int) -> dict:
        return {"page": page, "order": "UpdatedDateUTC ASC"} | (
            {"where": self.where} if self.where else {}
        )

    def pages(self, state: dict) -> Iterator[Page]:
        since, page = state.get("since"), state.get("page", 1)
        high = state.get("high") or since
        while True:
            body, document = self.api.get(self.path, self.params(page), since)
            found = [item for item in document.get(self.path) or [] if isinstance(item, dict)]
            high = _latest(found, high)
            count = (document.get("pagination") or {}).get("pageCount")
            done = len(found) < PAGE or (isinstance(count, int) and page >= count)
            page += 1
            page_state = {"since": high} if done else {"since": since, "page": page, "high": high}
            yield Page(body, {k: v for k, v in page_state.items() if v}, len(found))
            if done:
                return

    def probe(self) -> None:
        """The first page of what changed from now on (nothing: cheap)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self.api.get(self.path, self.params(1), now)


def _latest(found: list[dict], high: str | None) -> str | None:
    """The latest UpdatedDateUTC among the items and `high`, as Xero takes
    it in If-Modified-Since (UTC, to the second)."""
    latest = latest_time([high, *(item.get("UpdatedDateUTC") for item in found)], parse_time)
    return latest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if latest else None


class RepeatingInvoices(Listed):
    """The sales repeating invoices, all at each sync (module docstring: why)."""

    name = "repeating_invoices"
    primary_key = "RepeatingInvoiceID"
    path = "RepeatingInvoices"
    where = SALES

    def params(self, page: int) -> dict:
        return {"where": self.where}

    def pages(self, state: dict) -> Iterator[Page]:
        body, document = self.api.get(self.path, self.params(1))
        found = [item for item in document.get(self.path) or [] if isinstance(item, dict)]
        yield Page(body, {}, len(found))


class XeroSource(AuthorizedSource):
    vendor = "xero"
    default_base_url = "https://api.xero.com/api.xro/2.0"
    account = ("tenant_id", "Xero named no organisation")
    stream_classes = (
        Listed.named("contacts", primary_key="ContactID", path="Contacts"),
        Listed.named("invoices", primary_key="InvoiceID", path="Invoices", where=SALES),
        Listed.named("payments", primary_key="PaymentID", path="Payments"),
        Listed.named(
            "credit_notes", primary_key="CreditNoteID", path="CreditNotes", where=SALES_CREDIT
        ),
        RepeatingInvoices,
    )

    def api_for(self, account: str) -> XeroApi:
        return XeroApi(self.base_url, account, self.transport)
