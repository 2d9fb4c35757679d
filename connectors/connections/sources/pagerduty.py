"""PagerDuty's REST API v2 through our transport, with a REST API key.

Why not PagerDuty's own client (`pagerduty` 7.2.0, formerly `pdpyras`): it
is built on httpx2, not requests, so our transport (the one rule for
waiting) cannot carry its calls; and its own loop retries a 429 without end
on a fixed cooldown, never reading `Retry-After` and never giving up, where
ours waits as asked and ends a sync asked to wait too long. `pdpyras`
5.4.1 (requests) has the same 429 loop and warns at import that it is
deprecated. What either would add here is the header and offset paging
below, a few lines.

Documented at developer.pagerduty.com (API Reference, "Pagination"): the
key goes as `Authorization: Token token=<key>` with `Accept:
application/vnd.pagerduty+json;version=2`; lists are paged with `limit`
(100 at most) and `offset`, the answer saying `more` while more follow, and
offset + limit may not pass 10,000. `https://api.eu.pagerduty.com` is the
EU service region's address.

Streams, both over a window `since`..`until` (PagerDuty lists at most six
months in one window; `date_range=all` would drop the window, and so the
cursor): the first sync reads the last HISTORY days; `until` is the time
the window began, so that offsets stay put while the window is read (what
happens meanwhile is the next window's). Mid-way the state holds the window
and the next offset; a window read moves the cursor (`since`) to its end.
- incidents (`GET /incidents`, created in the window, oldest first): the
  incident as it stands, read by the pagerduty connector as a REST incident
  (raised; acknowledged or resolved at `last_status_change_at`);
- log_entries (`GET /log_entries`, `is_overview=true`, `include[]=incidents`):
  the acknowledgements and resolutions made in the window, of incidents of
  any age, each with its incident (so its service, the client, and its
  urgency). A step the incident list already showed (its raise, a
  resolution) comes back keyed alike: a duplicate, never a second event.
At 10,000 the list pages no further: the window's first half is read again
by itself, then the rest (what was read comes again, as duplicates; none is
skipped).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from connectors.connections.sources.answers import read
from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport
from connectors.fields import parse_datetime

LIMIT = 100
MAX_OFFSET = 10_000  # PagerDuty's classic pagination goes no further
HISTORY = timedelta(days=180)
WINDOW = timedelta(days=180)  # "Maximum range is 6 months"
ACCEPT = "application/vnd.pagerduty+json;version=2"


def now() -> datetime:
    """The end of a new window (a test sets its own clock)."""
    return datetime.now(UTC)


def _text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagerDutyApi:
    def __init__(self, base_url: str, credentials: dict, transport: Transport):
        self.base_url = base_url
        self.transport = transport
        self.headers = {"Authorization": f"Token token={credentials['api_key']}", "Accept": ACCEPT}

    def get(self, path: str, params: dict | list) -> tuple[bytes, object]:
        response = self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, headers=self.headers
        )
        problems = {
            401: ("credentials", "PagerDuty refused the API key (401)"),
            403: (
                "permission",
                f"PagerDuty: this API key may not read {path} (403: a user key's user"
                " needs access to the incidents, or use an account read-only key)",
            ),
            404: ("vendor", f"PagerDuty: {path} not found at {self.base_url}"),
        }
        said = ""
        if 400 <= response.status_code < 500 and response.status_code not in problems:
            said = f" ({_error_text(response)})"
        return response.content, read(response, "PagerDuty", path, problems, said)


def _error_text(response) -> str:
    """PagerDuty's error object: `{"error": {"message", "errors": [...]}}`."""
    try:
        error = response.json().get("error") or {}
        return "; ".join([str(error.get("message", "")), *map(str, error.get("errors") or [])])
    except (ValueError, AttributeError):
        return "no error object"


class Windowed(Stream):
    """A list of what falls in the window, page after page by offset."""

    path: ClassVar[str]
    key: ClassVar[str]  # the list's name in the answer
    extra: ClassVar[list[tuple[str, str]]] = []
    api: PagerDutyApi

    def pages(self, state: dict) -> Iterator[Page]:
        since = state.get("since") or _text(now() - HISTORY)
        until, offset = state.get("until"), int(state.get("offset", 0))
        last = False  # a resumed window is followed by one up to now
        while True:
            if until is None:  # a new window, from the end of the last
                clock, end = now(), parse_datetime(since) + WINDOW
                if parse_datetime(since) >= clock - timedelta(seconds=1):
                    return  # nothing can have happened since
                last, until = end >= clock, _text(min(clock, end))
            params = [("since", since), ("until", until), ("limit", str(LIMIT))]
            params += [("offset", str(offset)), *self.extra]
            body, document = self.api.get(self.path, params)
            found = document.get(self.key) if isinstance(document, dict) else None
            found = [item for item in found or [] if isinstance(item, dict)]
            more = bool(found) and bool(document.get("more"))
            offset += len(found)
            if more and offset + LIMIT > MAX_OFFSET:
                # No further by offset: the first half of the window again, by
                # itself (what was read comes back as duplicates), then the rest.
                until, offset, last = _halfway(since, until), 0, False
                state = {"since": since, "until": until}
            elif more:
                state = {"since": since, "until": until, "offset": offset}
            else:
                state = {"since": until}
            # `{"incidents": []}` would be read as one record, not none.
            yield Page(body if found else b"[]", state, len(found))
            if more:
                continue
            if last:
                return
            since, until, offset = until, None, 0


def _halfway(since: str, until: str) -> str:
    start, end = parse_datetime(since), parse_datetime(until)
    if end - start < timedelta(minutes=2):
        raise SourceError(
            "vendor", f"PagerDuty lists over {MAX_OFFSET} items between {since} and {until}"
        )
    return _text(start + (end - start) / 2)


class Incidents(Windowed):
    name = "incidents"
    cursor_field = "created_at"
    path = "/incidents"
    key = "incidents"
    extra: ClassVar[list[tuple[str, str]]] = [("sort_by", "created_at:asc")]


class LogEntries(Windowed):
    name = "log_entries"
    cursor_field = "created_at"
    path = "/log_entries"
    key = "log_entries"
    extra: ClassVar[list[tuple[str, str]]] = [("is_overview", "true"), ("include[]", "incidents")]


class PagerDutySource(Source):
    vendor = "pagerduty"
    default_base_url = "https://api.pagerduty.com"
    credential_fields: ClassVar[dict[str, str]] = {"api_key": "REST API key (read-only)"}

    stream_classes = (Incidents, LogEntries)

    def connect(self, credentials: dict) -> PagerDutyApi:
        return PagerDutyApi(self.base_url, credentials, self.transport)

    def check_connection(self) -> None:
        """One incident of the list the sync reads: the key and its access.
        (`/users/me` answers only a user's key, `/abilities` any key, even
        one that may not read incidents.)"""
        self.api.get("/incidents", {"limit": 1})
