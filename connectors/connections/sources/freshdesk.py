"""Freshdesk (and Freshservice) through the REST API v2 (requests, no SDK).

Documented at developers.freshdesk.com/api (api.freshservice.com):
authentication is basic auth with the API key as the user (and `X` as the
password); lists are paged with `page` and `per_page` (100 at most), and a
`Link: <...>; rel="next"` header says there is a next page; a 429 carries
`Retry-After` (seconds), which the transport waits out.

Streams, identities first so that the tickets find their client:
- companies (Freshservice: departments): the whole list each sync (an
  account has few, and the list takes no time filter);
- contacts: `_updated_since` (Freshservice's requesters: the whole list);
- tickets: `updated_since` = the latest `updated_at` stored, oldest first
  (`order_by=updated_at&order_type=asc`), with `include=requester,stats`
  (the requester's email; `stats.resolved_at`/`closed_at`, the closing
  times). Without `updated_since` Freshdesk lists only the last 30 days, so
  the first sync asks from 1970. Freshdesk will not page past page 300:
  there, the stream starts again from the latest `updated_at` seen (the
  tickets of that second come again, as duplicates; none is skipped).
Mid-way the state holds the next page with the cursor it began from.
Each page goes to the connector of the same name unchanged.
"""

from collections.abc import Iterator
from typing import ClassVar

from connectors.connections.sources.answers import read
from connectors.connections.sources.base import Page, Source, Stream, latest_time
from connectors.connections.transport import Transport
from connectors.fields import parse_datetime

PER_PAGE = 100
LAST_PAGE = 300  # Freshdesk's limit on `page`
EPOCH = "1970-01-01T00:00:00Z"
TICKETS = "/api/v2/tickets"
# The requester's email, and the closing times (`stats`).
WITH_REQUESTER = {"include": "requester,stats"}


class FreshApi:
    def __init__(self, base_url: str, credentials: dict, transport: Transport, vendor: str):
        self.base_url = base_url
        self.transport = transport
        self.vendor = vendor.title()
        self.auth = (credentials["api_key"], "X")

    def get(self, path: str, params: dict) -> tuple[bytes, object, bool]:
        """The body, its JSON and whether a next page follows."""
        response = self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, auth=self.auth
        )
        problems = {
            401: ("credentials", f"{self.vendor} refused the API key (401)"),
            403: ("permission", f"{self.vendor}: this API key's agent may not read {path} (403)"),
            404: (
                "vendor",
                f"{self.vendor}: {path} not found at {self.base_url} (check the domain)",
            ),
        }
        document = read(response, self.vendor, path, problems)
        return response.content, document, "next" in response.links


def _items(document, wrapper: str | None) -> list:
    """A page's items: Freshdesk answers a bare array, Freshservice wraps it."""
    if isinstance(document, dict) and wrapper:
        document = document.get(wrapper)
    return [item for item in document or [] if isinstance(item, dict)]


class Listed(Stream):
    """A whole list, page after page (`state` only while mid-way)."""

    path: ClassVar[str]
    cursor_field = "updated_at"
    # The list's name in a wrapped answer (Freshservice's), or None for a bare array.
    wrapper: ClassVar[str | None] = None
    api: FreshApi

    def params(self, since: str | None, page: int) -> dict:
        return {"per_page": PER_PAGE, "page": page}

    def pages(self, state: dict) -> Iterator[Page]:
        page = state.get("page", 1)
        while True:
            body, document, more = self.api.get(self.path, self.params(None, page))
            found = _items(document, self.wrapper)
            page += 1
            yield Page(body, {"page": page} if more else {}, len(found))
            if not more:
                return


class Updated(Listed):
    """A list filtered to what changed since the latest `updated_at` stored."""

    since_param: ClassVar[str]
    extra: ClassVar[dict] = {}

    def params(self, since: str | None, page: int) -> dict:
        return {self.since_param: since or EPOCH, "per_page": PER_PAGE, "page": page} | self.extra

    def pages(self, state: dict) -> Iterator[Page]:
        since, page = state.get("since"), state.get("page", 1)
        high = state.get("high") or since
        while True:
            body, document, more = self.api.get(self.path, self.params(since, page))
            found = _items(document, self.wrapper)
            high = _latest(found, high)
            page += 1
            if more and page > LAST_PAGE:  # Freshdesk pages no further: from the latest seen
                since, page, more_state = high, 1, {"since": high}
            elif more:
                more_state = {"since": since, "page": page, "high": high}
            else:
                more_state = {"since": high}
            yield Page(body, {k: v for k, v in more_state.items() if v}, len(found))
            if not more:
                return


def _latest(found: list[dict], high: str | None) -> str | None:
    """The latest `updated_at` among the items and `high`, as ISO 8601 UTC."""
    latest = latest_time([high, *(item.get("updated_at") for item in found)], parse_datetime)
    return latest.strftime("%Y-%m-%dT%H:%M:%SZ") if latest else None


class FreshdeskSource(Source):
    vendor = "freshdesk"
    credential_fields: ClassVar[dict[str, str]] = {"api_key": "API key"}
    stream_classes = (
        Listed.named("companies", path="/api/v2/companies"),
        Updated.named("contacts", path="/api/v2/contacts", since_param="_updated_since"),
        Updated.named(
            "tickets",
            path=TICKETS,
            since_param="updated_since",
            extra=WITH_REQUESTER | {"order_by": "updated_at", "order_type": "asc"},
        ),
    )

    def connect(self, credentials: dict) -> FreshApi:
        return FreshApi(self.base_url, credentials, self.transport, self.vendor)

    def check_connection(self) -> None:
        """One ticket of the tickets list: the key, and its agent's access."""
        self.api.get(TICKETS, {"per_page": 1})


class FreshserviceSource(FreshdeskSource):
    """Freshservice: its lists wrapped (`{"tickets": [...]}`), its clients
    the departments, its contacts the requesters."""

    vendor = "freshservice"
    stream_classes = (
        Listed.named("departments", path="/api/v2/departments", wrapper="departments"),
        Listed.named("requesters", path="/api/v2/requesters", wrapper="requesters"),
        # Freshservice's list takes no `order_by`: newest created first.
        Updated.named(
            "tickets",
            path=TICKETS,
            since_param="updated_since",
            extra=WITH_REQUESTER,
            wrapper="tickets",
        ),
    )
