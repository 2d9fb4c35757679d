"""HubSpot's CRM with its maintained client (`hubspot-api-client`, through
sources/hubspot_api.py: the SDK's CRM objects, search and v4 associations
APIs, retried by the transport's one rule), with a private app's access token
or a public app's OAuth tokens (connections/oauth.py).

Streams, companies first so that deals and engagements find their client:
companies, deals, emails, calls, meetings, notes, then marketing email
events (EmailEvents, below). Each CRM object type:
- the first sync lists every object (`GET /crm/v3/objects/{type}`, the SDK's
  `basic_api.get_page`, 100 a page, the documented maximum), paging with
  `paging.next.after`, with `associations=companies`; the state is that
  `after`, and the latest `updatedAt` seen;
- later syncs ask the search endpoint (`POST /crm/v3/objects/{type}/search`,
  `search_api.do_search`) for `hs_lastmodifieddate GTE` that latest time,
  sorted ascending, paging with `after`. Search answers carry no
  associations, so each page's companies are read with the v4 batch endpoint
  and laid into the results as the list endpoint lays them. GTE, not GT:
  objects modified in the same millisecond as the last stored one are read
  again (duplicates, never skipped). Search stops at 10,000 results; past
  that, the search starts again from the latest time reached.

Every page is the response's own JSON (search pages with their associations
added), named `{type}.json` so that the hubspot connector knows the type.
HubSpot's limits (100 or 190 requests per 10 s for private apps; search 5 a
second) answer 429 with Retry-After, which the transport's rule waits out.
"""

import json
from collections.abc import Iterator
from typing import ClassVar

from marshmallow import ValidationError

from connectors.connections.sources.base import Page, Source, Stream, latest_time
from connectors.connections.sources.hubspot_api import MODIFIED, HubSpotApi
from connectors.connections.transport import SourceError
from connectors.hubspot_records import Time

LIMIT = 100
SEARCH_CEILING = 10_000
# The scopes the streams need (developers.hubspot.com/scopes); calls,
# meetings and notes answer 403 MISSING_SCOPES naming theirs.
SCOPES = (
    "crm.objects.companies.read",
    "crm.objects.deals.read",
    "sales-email-read",
    "content",
)
PROPERTIES = {
    "companies": ("name", "domain", MODIFIED),
    "deals": (
        "dealname",
        "amount",
        "deal_currency_code",
        "dealstage",
        "pipeline",
        "closedate",
        "createdate",
        "hs_is_closed",
        "hs_is_closed_won",
        "hubspot_owner_id",
        "description",
        MODIFIED,
    ),
    "emails": (
        "hs_timestamp",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_direction",
        "hubspot_owner_id",
        MODIFIED,
    ),
    "calls": (
        "hs_timestamp",
        "hs_call_title",
        "hs_call_body",
        "hs_call_direction",
        "hs_call_duration",
        "hubspot_owner_id",
        MODIFIED,
    ),
    "meetings": (
        "hs_timestamp",
        "hs_meeting_title",
        "hs_meeting_body",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hubspot_owner_id",
        MODIFIED,
    ),
    "notes": ("hs_timestamp", "hs_note_body", "hubspot_owner_id", MODIFIED),
}


class CrmObjects(Stream):
    primary_key = "id"
    cursor_field = MODIFIED

    def __init__(self, api: HubSpotApi, name: str):
        super().__init__(api)
        self.name = name
        self.filename = f"{name}.json"

    def pages(self, state: dict) -> Iterator[Page]:
        if "since" in state:
            yield from self._search(state)
        else:
            yield from self._list(state)

    def _list(self, state: dict) -> Iterator[Page]:
        after, high = state.get("after"), state.get("high")
        params = {"limit": LIMIT, "properties": list(PROPERTIES[self.name])}
        if self.name != "companies":
            params["associations"] = ["companies"]
        while True:
            body, document = self.api.page(self.name, **params, after=after)
            results = document.get("results") or []
            high = _latest(results, high)
            after = _next(document)
            done = not after or not results
            page_state = {"since": high} if done else {"after": after, "high": high}
            yield Page(body, page_state if high or not done else {}, len(results), self.filename)
            if done:
                return

    def _search(self, state: dict) -> Iterator[Page]:
        since, after = state["since"], state.get("after")
        high = state.get("high") or since
        while True:
            body, document = self.api.search(
                self.name, _millis(since), PROPERTIES[self.name], LIMIT, after
            )
            results = document.get("results") or []
            if results and self.name != "companies":
                document["results"] = self._with_companies(results)
                body = json.dumps(document).encode()
            high = _latest(results, high)
            after = _next(document)
            done = not after or not results
            # Search answers 10,000 results at most: past that, search again
            # from the latest time reached (unless nothing moved it on).
            if not done and after.isdigit() and int(after) >= SEARCH_CEILING:
                done = high == since
                since, after = high, None
            page_state = (
                {"since": high}
                if done or not after
                else {"since": since, "after": after, "high": high}
            )
            yield Page(body, page_state, len(results), self.filename)
            if done:
                return

    def _with_companies(self, results: list[dict]) -> list[dict]:
        """The results with their companies, read with the v4 batch endpoint."""
        ids = [str(r["id"]) for r in results if isinstance(r, dict) and r.get("id")]
        document = self.api.companies_of(self.name, ids)
        companies: dict[str, list[dict]] = {}
        for found in document.get("results") or []:
            source = str((found.get("from") or {}).get("id", ""))
            companies[source] = [
                {"id": str(to["toObjectId"]), "type": f"{self.name[:-1]}_to_company"}
                for to in found.get("to") or []
                if isinstance(to, dict) and to.get("toObjectId") is not None
            ]
        return [
            r | {"associations": {"companies": {"results": companies[str(r["id"])]}}}
            if isinstance(r, dict) and companies.get(str(r.get("id")))
            else r
            for r in results
        ]


def _next(document: dict) -> str | None:
    paging = document.get("paging")
    following = paging.get("next") if isinstance(paging, dict) else None
    return (
        str(following["after"]) if isinstance(following, dict) and following.get("after") else None
    )


def _latest(results: list, high: str | None) -> str | None:
    """The latest modification time among the results and `high` (ISO text)."""
    modified = (
        (result.get("properties") or {}).get(MODIFIED) or result.get("updatedAt")
        for result in results
        if isinstance(result, dict)
    )
    latest = latest_time([high, *modified], Time().deserialize, (ValidationError,))
    return latest.isoformat().replace("+00:00", "Z") if latest else None


def _millis(text: str) -> str:
    """Search filters compare times as epoch milliseconds."""
    return str(int(Time().deserialize(text).timestamp() * 1000))


class EmailEvents(Stream):
    """Marketing email events (`GET /email/public/v1/events`, 1000 a page,
    the documented maximum; not in the SDK, so through the transport), oldest
    allowed first: from `startTimestamp` the latest `created` stored
    (inclusive: the last one again is a duplicate), paging with `offset`
    while `hasMore`."""

    name = "email_events"
    cursor_field = "created"
    path = "/email/public/v1/events"
    api: HubSpotApi

    def pages(self, state: dict) -> Iterator[Page]:
        since, offset = state.get("since"), state.get("offset")
        high = state.get("high") or since
        while True:
            params = {"limit": 1000}
            params |= {"startTimestamp": since} if since else {}
            params |= {"offset": offset} if offset else {}
            body, document = self.api.legacy(self.path, params)
            events = document.get("events") or []
            created = [e["created"] for e in events if isinstance(e, dict) and _is_millis(e)]
            high = max([*created, *([high] if high else [])], default=None)
            offset = document.get("offset")
            done = not document.get("hasMore") or not offset or not events
            page_state = (
                {"since": high} if done else {"since": since, "offset": offset, "high": high}
            )
            yield Page(body, page_state if high else {}, len(events), "email_events.json")
            if done:
                return


def _is_millis(event: dict) -> bool:
    value = event.get("created")
    return isinstance(value, int) and not isinstance(value, bool)


class HubSpotSource(Source):
    vendor = "hubspot"
    default_base_url = "https://api.hubapi.com"
    credential_fields: ClassVar[dict[str, str]] = {
        "access_token": "Private app access token (pat-...), or an OAuth app's client below"
    }
    oauth = "optional"

    def connect(self, credentials: dict) -> HubSpotApi:
        token = None if self.by_oauth(credentials) else credentials["access_token"]
        return HubSpotApi(self.base_url, token, self.transport)

    def check_connection(self) -> None:
        """One object of each type the sync reads: names a bad token, or every
        scope the app lacks (each stream's 403 MISSING_SCOPES, and what the
        OAuth token's info does not grant), all at once."""
        reads = [lambda name=name: self.api.page(name, limit=1) for name in PROPERTIES]
        reads.append(lambda: self.api.legacy(EmailEvents.path, {"limit": 1}))
        missing: list[str] = []
        for read in reads:
            try:
                read()
            except SourceError as error:
                scopes = getattr(error, "scopes", None)
                if not scopes:
                    raise
                missing += [scope for scope in scopes if scope not in missing]
        if self.by_oauth(self.credentials):
            granted = self.api.granted()
            missing += [s for s in SCOPES if s not in granted and s not in missing]
        if missing:
            raise SourceError(
                "permission", f"HubSpot: the app is missing scopes: grant {', '.join(missing)}"
            )

    def streams(self) -> list[Stream]:
        return [*(CrmObjects(self.api, name) for name in PROPERTIES), EmailEvents(self.api)]

    def close(self) -> None:
        self.api.close()
        super().close()
