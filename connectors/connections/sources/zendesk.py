"""Zendesk Support through its REST API (requests, no SDK: Zendesk's own
Python client is unmaintained; the issue allows the API directly).

Streams, each an incremental export (developer.zendesk.com, "Incremental
Exports"), in this order so that tickets find their identities:
- organizations: time-based export (`start_time` = the last page's `end_time`)
- users: cursor-based export (`after_cursor`)
- tickets: cursor-based export (`after_cursor`), with the requesters and
  metric sets side-loaded, which the Zendesk connector reads
- ticket_events: time-based export of every update's changes (`start_time` =
  the last page's `end_time`), so a ticket solved and reopened between two
  syncs shows both (connectors/zendesk_audits.py)

Pages hold up to 1000 items (the documented maximum); exports are limited to
10 requests a minute, which the 429s' Retry-After keeps us within.
"""

from collections.abc import Iterator
from typing import ClassVar

from connectors.connections.sources.answers import read
from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport

PER_PAGE = 1000


class ZendeskApi:
    def __init__(self, base_url: str, credentials: dict, transport: Transport):
        self.base_url = base_url
        self.transport = transport
        # An API token, as Zendesk documents: "{email}/token" and the token.
        self.auth = (f"{credentials['email']}/token", credentials["api_token"])

    def get(self, path: str, params: dict) -> dict:
        response = self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, auth=self.auth
        )
        problems = {
            401: ("credentials", "Zendesk refused the email and API token (401)"),
            403: (
                "permission",
                f"Zendesk: this account may not read {path} (403; exports need an admin)",
            ),
            404: ("vendor", f"Zendesk: {path} not found at {self.base_url} (check the subdomain)"),
        }
        return read(response, "Zendesk", path, problems) | {"_body": response.content}


class CursorExport(Stream):
    """A cursor-based incremental export: `start_time` the first time, then
    the `after_cursor` of the last page stored, until `end_of_stream`."""

    path: str
    include: str | None = None
    items: str
    api: ZendeskApi

    def pages(self, state: dict) -> Iterator[Page]:
        params = {"per_page": PER_PAGE}
        if self.include:
            params["include"] = self.include
        cursor = state.get("cursor")
        while True:
            query = params | ({"cursor": cursor} if cursor else {"start_time": 0})
            document = self.api.get(self.path, query)
            body = document.pop("_body")
            cursor = document.get("after_cursor") or cursor
            items = document.get(self.items) or []
            yield Page(body, {"cursor": cursor}, len(items))
            if document.get("end_of_stream", True) or not document.get("after_cursor"):
                return


class TimeExport(Stream):
    """A time-based incremental export: `start_time` = the `end_time` of the
    last page stored, until `end_of_stream` (Zendesk repeats the items at
    the boundary second, which come again as duplicates)."""

    path: str
    items: str
    api: ZendeskApi

    def pages(self, state: dict) -> Iterator[Page]:
        start_time = int(state.get("start_time", 0))
        while True:
            document = self.api.get(self.path, {"start_time": start_time, "per_page": PER_PAGE})
            body = document.pop("_body")
            items = document.get(self.items) or []
            start_time = int(document.get("end_time") or start_time)
            yield Page(body, {"start_time": start_time}, len(items))
            if document.get("end_of_stream", True) or not items:
                return


class ZendeskSource(Source):
    vendor = "zendesk"
    credential_fields: ClassVar[dict[str, str]] = {"email": "Agent email", "api_token": "API token"}
    stream_classes = (
        # Zendesk offers no cursor export of organizations.
        TimeExport.named(
            "organizations",
            cursor_field="updated_at",
            path="/api/v2/incremental/organizations.json",
            items="organizations",
        ),
        CursorExport.named(
            "users",
            cursor_field="updated_at",
            path="/api/v2/incremental/users/cursor.json",
            items="users",
        ),
        CursorExport.named(
            "tickets",
            cursor_field="updated_at",
            path="/api/v2/incremental/tickets/cursor.json",
            include="users,metric_sets",
            items="tickets",
        ),
        # Every update's changes; the status changes go on the tickets' threads.
        TimeExport.named(
            "ticket_events",
            cursor_field="created_at",
            path="/api/v2/incremental/ticket_events.json",
            items="ticket_events",
        ),
    )

    def connect(self, credentials: dict) -> ZendeskApi:
        return ZendeskApi(self.base_url, credentials, self.transport)

    def check_connection(self) -> None:
        me = self.api.get("/api/v2/users/me.json", {})["user"]
        if not me.get("id"):
            # Zendesk answers an anonymous user when the credentials are ignored.
            raise SourceError("credentials", "Zendesk did not recognise the email and API token")
        if me.get("role") != "admin":
            raise SourceError(
                "permission",
                f"Zendesk: {me.get('email')} is a {me.get('role')}, and incremental exports"
                " need an admin's API token",
            )
