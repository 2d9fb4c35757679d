"""Mailchimp's Marketing API 3.0 through our transport, with an API key.

Why not Mailchimp's own client (`mailchimp-marketing` 3.0.80, last released
2022): it calls the module-level `requests.get` (no session, so not our
transport and its waiting rule), retries nothing, turns every failure into
its `ApiClientError` (our transport's own errors included), and returns the
parsed JSON where a page keeps the body as Mailchimp sent it. What it would
add here is the data centre read from the key and basic auth: a few lines.

Documented at mailchimp.com/developer/marketing (Fundamentals): the key
ends in its data centre (`...-us6`), whose host is
`https://us6.api.mailchimp.com/3.0`; basic auth, any user name, the key as
password; lists are paged with `count` (1000 at most) and `offset`, the
answer saying `total_items`. Mailchimp allows ten connections at once and
answers 429 past them (the transport waits).

Streams, each over the audiences or campaigns it reads, one after another
(mid-way the state holds which one, and the next offset; the cursor `since`
moves, once all are read, to the time the stream began):
- members: each audience's members changed since the cursor
  (`since_last_changed`; the first sync: all), read as subscribe,
  unsubscribe or cleaned (connectors/mailchimp_api.py);
- email_activity: the opens, clicks and bounces since the cursor (`since`;
  the first sync: all) of each campaign sent in the CAMPAIGN_DAYS before it
  (a campaign's activity tails off within weeks; older ones are not asked).
Activity or a change made while a stream is read comes again next sync, as
a duplicate. A member deleted mid-way moves the rest up one place, so each
page after the first begins OVERLAP places early: the members read twice
are duplicates, none is skipped unless more than OVERLAP go at once.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from connectors.connections.sources.answers import read
from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport
from connectors.fields import parse_datetime

COUNT = 1000
OVERLAP = 10
CAMPAIGN_DAYS = 90
DEFAULT_BASE_URL = "https://api.mailchimp.com/3.0"


def now() -> datetime:
    """When a stream begins (a test sets its own clock)."""
    return datetime.now(UTC)


def _text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def data_centre_url(api_key: str) -> str:
    """The key's own host: `...-us6` is https://us6.api.mailchimp.com/3.0."""
    _, dash, centre = api_key.strip().rpartition("-")
    if not dash or not centre.isalnum():
        raise SourceError(
            "credentials",
            "a Mailchimp API key ends in its data centre (like -us6); this one does not",
        )
    return f"https://{centre}.api.mailchimp.com/3.0"


class MailchimpApi:
    def __init__(self, base_url: str, credentials: dict, transport: Transport):
        self.base_url = base_url
        self.transport = transport
        self.auth = ("touchline", credentials["api_key"].strip())

    def get(self, path: str, params: dict) -> tuple[bytes, dict]:
        response = self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, auth=self.auth
        )
        detail = _problem(response) if response.status_code >= 400 else ""
        said = f" ({detail})" if detail else ""
        problems = {
            401: ("credentials", f"Mailchimp refused the API key (401{detail and ': '}{detail})"),
            403: ("permission", f"Mailchimp: this API key's user may not read {path} (403)"),
            404: ("vendor", f"Mailchimp: {path} not found at {self.base_url}"),
        }
        document = read(response, "Mailchimp", path, problems, said)
        if not isinstance(document, dict):
            raise SourceError("vendor", f"Mailchimp answered {path} with no object")
        return response.content, document


def _problem(response) -> str:
    """Mailchimp's problem document (`title`, `detail`)."""
    try:
        document = response.json()
        return str(document.get("detail") or document.get("title") or "")
    except (ValueError, AttributeError):
        return ""


class Fanned(Stream):
    """A list read for each of the audiences or campaigns `owners` names."""

    # The path (with {id}), the list's name in the answer, the state's name
    # for the audience or campaign being read, and what asks for the changes
    # since the cursor.
    listing: ClassVar[tuple[str, str, str, str]]
    api: MailchimpApi

    def owners(self, since: str | None, started: str) -> list[str]:
        raise NotImplementedError

    def pages(self, state: dict) -> Iterator[Page]:
        child, key, owner_name, since_param = self.listing
        since = state.get("since")
        started = state.get("started") or _text(now())
        owners = self.owners(since, started)
        base = {k: v for k, v in (("since", since), ("started", started)) if v}
        at, offset = state.get(owner_name), int(state.get("offset", 0))
        if at not in owners:  # none yet, or gone since: from the first (duplicates, no gap)
            at, offset = None, 0
        first = owners.index(at) if at else 0
        for index, owner in enumerate(owners[first:], first):
            more = True
            while more:
                params = {since_param: since} if since else {}
                params |= {"count": COUNT, "offset": offset}
                body, document = self.api.get(child.format(id=owner), params)
                found = document.get(key) if isinstance(document.get(key), list) else []
                total = document.get("total_items")
                read_to = offset + len(found)
                more = bool(found) and isinstance(total, int) and read_to < total
                if more:
                    offset = max(read_to - OVERLAP, offset + 1)
                    after = base | {owner_name: owner, "offset": offset}
                elif index + 1 < len(owners):
                    offset, after = 0, base | {owner_name: owners[index + 1]}
                else:
                    after = {"since": started}
                yield Page(body, after, len(found))
        if not owners:
            yield Page(b"[]", {"since": started}, 0)

    def listed(self, path: str, key: str, params: dict) -> list[str]:
        """Every id of a paged list (not stored: it only says what to read)."""
        ids, offset = [], 0
        while True:
            _, document = self.api.get(path, params | {"count": COUNT, "offset": offset})
            found = document.get(key) if isinstance(document.get(key), list) else []
            ids += [str(item["id"]) for item in found if isinstance(item, dict) and item.get("id")]
            offset += len(found)
            total = document.get("total_items")
            if not found or not isinstance(total, int) or offset >= total:
                return ids


class Members(Fanned):
    name = "members"
    cursor_field = "last_changed"
    primary_key = "unique_email_id"
    listing = ("/lists/{id}/members", "members", "list", "since_last_changed")

    def owners(self, since, started):
        return self.listed("/lists", "lists", {"fields": "lists.id,total_items"})


class EmailActivity(Fanned):
    name = "email_activity"
    cursor_field = "timestamp"
    listing = ("/reports/{id}/email-activity", "emails", "campaign", "since")

    def owners(self, since, started):
        """The campaigns sent in the CAMPAIGN_DAYS before the cursor (or now)."""
        sent_after = parse_datetime(since or started) - timedelta(days=CAMPAIGN_DAYS)
        params = {
            "status": "sent",
            "since_send_time": _text(sent_after),
            "sort_field": "send_time",
            "sort_dir": "ASC",
            "fields": "campaigns.id,total_items",
        }
        return self.listed("/campaigns", "campaigns", params)


class MailchimpSource(Source):
    vendor = "mailchimp"
    # The key says its data centre: this address stands for "the key's own".
    default_base_url = DEFAULT_BASE_URL
    credential_fields: ClassVar[dict[str, str]] = {"api_key": "API key (ends in -us6 or the like)"}

    stream_classes = (Members, EmailActivity)

    def connect(self, credentials: dict) -> MailchimpApi:
        if self.base_url == DEFAULT_BASE_URL:
            self.base_url = data_centre_url(credentials["api_key"])
        return MailchimpApi(self.base_url, credentials, self.transport)

    def check_connection(self) -> None:
        """The audiences' first page: the key, its data centre and its access."""
        self.api.get("/lists", {"count": 1, "fields": "lists.id,total_items"})
