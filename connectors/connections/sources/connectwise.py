"""ConnectWise PSA (Manage) through its REST API (v3.0, answers of version
2025.1), requests through our transport: ConnectWise publishes no Python
client, and the connectwise connector reads the API's list answers as they
come (connectors/connectwise.py).

Each site has its own address (`https://api-na.myconnectwise.net/v4_6_release/apis/3.0`,
`api-eu`, `api-au`, or an on-premise host's `/v4_6_release/apis/3.0`). An API
member's keys authenticate, as ConnectWise documents: HTTP basic with
`COMPANYID+PUBLICKEY` and `PRIVATEKEY`, and the integration's `clientId`
header (developer.connectwise.com) on every request.

Streams, companies first so that the others find their client:
- companies (`/company/companies`): identities;
- tickets (`/service/tickets`), each page sent with the notes of its tickets
  (`/service/tickets/{id}/notes`, by `id`), as the connector's export document
  `{"tickets": [...], "notes": [...]}`: ConnectWise lists notes per ticket only;
- time_entries (`/time/entries` charged to a service or project ticket);
- agreements (`/finance/agreements`), configurations (`/company/configurations`).

Each is read in `_info.lastUpdated` order, then `id`, 1000 a page (the
documented maximum), by keyset: `conditions=lastUpdated > [T] or
(lastUpdated = [T] and id > N)` with (T, N) the last record stored, which is
also the stream's cursor. Neither `page=` nor forward-only paging serves
here: records updated during a sync move to the end of a `lastUpdated`
order and shift the pages after them (a skip), and forward-only paging
orders by `id` only, which cannot follow changes. A keyset page holds only
records after the last one stored, so a sync resumes with nothing twice
(ConnectWise answers times to the second; records of the same second with
a smaller id come again as duplicates, never skipped).
"""

import json
from collections.abc import Iterator
from datetime import UTC
from typing import ClassVar

from connectors.accounting import parse_iso_time
from connectors.connections.sources import answers
from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport

PAGE = 1000
API_VERSION = "2025.1"
ORDER = "lastUpdated asc,id asc"
TICKET_CHARGES = '(chargeToType="ServiceTicket" or chargeToType="ProjectTicket")'


class ConnectWiseApi:
    def __init__(self, base_url: str, credentials: dict, transport: Transport):
        self.base_url = base_url
        self.transport = transport
        self.company = credentials["company_id"]
        self.auth = (f"{self.company}+{credentials['public_key']}", credentials["private_key"])
        self.headers = {
            "clientId": credentials["client_id"],
            "Accept": f"application/vnd.connectwise.com+json; version={API_VERSION}",
        }

    def get(self, path: str, params: dict) -> tuple[bytes, list]:
        response = self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, auth=self.auth, headers=self.headers
        )
        # Its error body: `code`, `message`, `errors`.
        said = answers.said(response, lambda body: [body.get("message") or body.get("code")])
        found = answers.read(
            response,
            "ConnectWise",
            path,
            {
                401: (
                    "credentials",
                    "ConnectWise refused the API member's public and private key for company"
                    f" {self.company!r}, or the client id (401{said})",
                ),
                403: (
                    "permission",
                    f"ConnectWise: the API member's security role may not read {path} (403{said})",
                ),
                404: (
                    "vendor",
                    f"ConnectWise: {path} not found at {self.base_url} (the address ends"
                    " /v4_6_release/apis/3.0)",
                ),
            },
            said,
        )
        if not isinstance(found, list):
            raise SourceError("vendor", f"ConnectWise answered {path} with no list")
        return response.content, [item for item in found if isinstance(item, dict)]


def cursor_of(item: dict) -> tuple[str, int] | None:
    """(`_info.lastUpdated` as a condition takes it, id) of a record; None when
    it has no readable time or id (it moves no cursor)."""
    info = item.get("_info") if isinstance(item.get("_info"), dict) else {}
    try:
        at = parse_iso_time(str(info.get("lastUpdated")))
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), int(item["id"])
    except (KeyError, TypeError, ValueError):
        return None


def after(state: dict) -> str | None:
    """The keyset condition: records after the last one stored."""
    if not state.get("lastUpdated"):
        return None
    at, key = state["lastUpdated"], int(state.get("id", 0))
    return f"(lastUpdated > [{at}] or (lastUpdated = [{at}] and id > {key}))"


class Listed(Stream):
    cursor_field = "_info.lastUpdated"
    path: ClassVar[str]
    condition: ClassVar[str | None] = None
    api: ConnectWiseApi

    def params(self, state: dict, size: int | None = None) -> dict:
        conditions = " and ".join(c for c in (self.condition, after(state)) if c)
        return {"orderBy": ORDER, "pageSize": size or PAGE} | (
            {"conditions": conditions} if conditions else {}
        )

    def pages(self, state: dict) -> Iterator[Page]:
        state = {k: state[k] for k in ("lastUpdated", "id") if k in state}
        while True:
            body, found = self.api.get(self.path, self.params(state))
            last = next(filter(None, map(cursor_of, reversed(found))), None)
            moved = last is not None and last != (state.get("lastUpdated"), state.get("id"))
            if last is not None:
                state = {"lastUpdated": last[0], "id": last[1]}
            body, count = self.with_children(body, found)
            yield Page(body, dict(state), count)
            if len(found) < PAGE:
                return
            if not moved:
                raise SourceError(
                    "vendor",
                    f"ConnectWise answered a full page of {self.path} whose last record has"
                    " no readable _info.lastUpdated: cannot page on",
                )

    def with_children(self, body: bytes, found: list[dict]) -> tuple[bytes, int]:
        return body, len(found)

    def probe(self) -> None:
        """The first record: names the keys, or a list the API member's
        security role may not read."""
        self.api.get(self.path, self.params({}, size=1))


class Tickets(Listed):
    """Service tickets, each page with its tickets' notes."""

    name = "tickets"
    path = "/service/tickets"

    def with_children(self, body: bytes, found: list[dict]) -> tuple[bytes, int]:
        if not found:  # the answer as it is: an empty list, no records
            return body, 0
        notes = [note for ticket in found for note in self.notes(ticket.get("id"))]
        document = {"tickets": found, "notes": notes}
        return json.dumps(document).encode(), len(found) + len(notes)

    def notes(self, ticket_id) -> Iterator[dict]:
        if not isinstance(ticket_id, int):
            return
        last = 0
        while True:
            params = {"orderBy": "id asc", "pageSize": PAGE, "conditions": f"id > {last}"}
            _, found = self.api.get(f"/service/tickets/{ticket_id}/notes", params)
            yield from found
            ids = [item["id"] for item in found if isinstance(item.get("id"), int)]
            if len(found) < PAGE or not ids or max(ids) <= last:
                return
            last = max(ids)


class ConnectWiseSource(Source):
    vendor = "connectwise"
    credential_fields: ClassVar[dict[str, str]] = {
        "company_id": "Company id (the one you sign in with)",
        "public_key": "API member's public key",
        "private_key": "API member's private key",
        "client_id": "Client id (developer.connectwise.com)",
    }
    stream_classes = (
        Listed.named("companies", path="/company/companies"),
        Tickets,
        Listed.named("time_entries", path="/time/entries", condition=TICKET_CHARGES),
        Listed.named("agreements", path="/finance/agreements"),
        Listed.named("configurations", path="/company/configurations"),
    )

    def connect(self, credentials: dict) -> ConnectWiseApi:
        return ConnectWiseApi(self.base_url, credentials, self.transport)
