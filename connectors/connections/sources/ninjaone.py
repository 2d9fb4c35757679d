"""NinjaOne's public API v2 through our transport, with OAuth 2 client
credentials (an API client app of type "API Services (machine-to-machine)",
scope `monitoring`: read only).

No authorization-code flow (connections/oauth.py): the client id and secret
the admin pastes fetch a token at `POST /ws/oauth/token`
(`grant_type=client_credentials`, scope `monitoring`), held in memory for
the sync and fetched again when it expires or is refused (401) once. Its
requests go through the transport (429 Retry-After, backoff), which Authlib's
own token fetch would bypass; nothing is stored, so nothing rotates.

Each region has its own address: `https://app.ninjarmm.com` (US, the
default), `us2.ninjarmm.com`, `ca.ninjarmm.com`, `eu.ninjarmm.com`,
`oc.ninjarmm.com`.

Streams (the ninjaone connector reads each answer as NinjaOne sends it,
connectors/ninjaone.py), organizations first so that the rest find their
client:
- organizations (`/v2/organizations`) and devices (`/v2/devices-detailed`):
  the whole list every sync (NinjaOne offers no changed-since filter; what
  did not change comes back as duplicates), `pageSize` 1000 and `after` the
  last id stored, which is the cursor mid-way; a finished list starts over;
- activities (`/v2/activities`): those newer than the last activity stored
  (`newerThan`, the cursor). NinjaOne lists activities newest first, so a
  full page is followed by the older ones of the same window (`olderThan`
  the oldest so far), the state holding the window until it is read; the
  cursor then moves to the newest id of the window (an answer with no
  activities is passed on as `[]`, which holds no record);
- alerts (`/v2/alerts`): the alerts open now, one answer (no paging).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from connectors.connections.sources.answers import read
from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport

PAGE = 1000
TOKEN_PATH = "/ws/oauth/token"
SCOPE = "monitoring"


class NinjaOneApi:
    def __init__(self, base_url: str, credentials: dict, transport: Transport):
        self.base_url = base_url
        self.transport = transport
        self.client = {
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        }
        self.token: str | None = None
        self.expires_at = datetime.min.replace(tzinfo=UTC)

    def fetch_token(self) -> None:
        """A new access token for the client credentials."""
        data = {"grant_type": "client_credentials", "scope": SCOPE} | self.client
        response = self.transport.request(
            "POST",
            f"{self.base_url}{TOKEN_PATH}",
            data=data,
            headers={"Accept": "application/json"},
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code in (400, 401):
            error = body.get("error_description") or body.get("error") or response.status_code
            raise SourceError(
                "credentials",
                f"NinjaOne refused the API client id and secret ({error}); the client"
                f" must allow the client credentials grant and the {SCOPE} scope",
            )
        if response.status_code >= 400 or not body.get("access_token"):
            raise SourceError(
                "vendor", f"NinjaOne's token endpoint answered {response.status_code} with no token"
            )
        self.token = str(body["access_token"])
        lifetime = body.get("expires_in") if isinstance(body.get("expires_in"), int) else 3600
        # A minute's margin, as the authorization-code tokens have.
        self.expires_at = datetime.now(UTC) + timedelta(seconds=max(0, lifetime - 60))

    def get(self, path: str, params: dict) -> tuple[bytes, object]:
        if self.token is None or datetime.now(UTC) >= self.expires_at:
            self.fetch_token()
        response = self._get(path, params)
        if response.status_code == 401:  # revoked or expired early: once more
            self.fetch_token()
            response = self._get(path, params)
        problems = {
            401: ("credentials", f"NinjaOne refused its own token for {path} (401)"),
            403: (
                "permission",
                f"NinjaOne: the API client may not read {path} (403: it needs the {SCOPE} scope)",
            ),
            404: (
                "vendor",
                f"NinjaOne: {path} not found at {self.base_url} (your region's address,"
                " e.g. https://eu.ninjarmm.com)",
            ),
        }
        return response.content, read(response, "NinjaOne", path, problems)

    def _get(self, path: str, params: dict):
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        return self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, headers=headers
        )


def _ids(found) -> list[int]:
    items = found if isinstance(found, list) else []
    return [
        item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), int)
    ]


class ApiStream(Stream):
    cursor_field = "id"
    path: ClassVar[str]
    api: NinjaOneApi

    def probe(self) -> None:
        """A token (the first read fetches it), then one item of the list."""
        self.api.get(self.path, {"pageSize": 1})


class Listed(ApiStream):
    """A whole list, `after` the last id stored, until a short page."""

    def pages(self, state: dict) -> Iterator[Page]:
        last = state.get("after")
        while True:
            params = {"pageSize": PAGE} | ({"after": last} if last else {})
            body, found = self.api.get(self.path, params)
            ids = _ids(found)
            count = len(found) if isinstance(found, list) else 0
            done = count < PAGE or not ids or max(ids) == last
            last = None if done else max(ids)
            yield Page(body, {} if done else {"after": last}, count)
            if done:
                return


class Activities(ApiStream):
    name = "activities"
    path = "/v2/activities"

    def pages(self, state: dict) -> Iterator[Page]:
        newer = int(state.get("newer_than", 0))
        older, high = state.get("older_than"), state.get("high")
        while True:
            params = {"pageSize": PAGE, "newerThan": newer}
            if older is not None:
                params["olderThan"] = older
            body, document = self.api.get(self.path, params)
            found = document.get("activities") if isinstance(document, dict) else None
            if not found:  # `{"activities": []}` would be read as one record, not none
                body = b"[]"
            ids = _ids(found)
            top = older is None
            high = max([newer, *ids] if top else [high or newer, *ids])
            full = len(found or []) >= PAGE and ids and min(ids) > newer
            if full:  # older ones of this window are left: walk down
                older = min(ids)
                yield Page(body, {"newer_than": newer, "older_than": older, "high": high}, len(ids))
                continue
            yield Page(body, {"newer_than": high}, len(found or []))
            if top:
                return
            # The window is read: anything newer since it began comes next.
            newer, older, high = high, None, None


class Alerts(ApiStream):
    """The alerts open now: one answer, no cursor (a raise comes again as a duplicate)."""

    name = "alerts"
    cursor_field = "createTime"
    primary_key = "uid"
    path = "/v2/alerts"

    def pages(self, state: dict) -> Iterator[Page]:
        body, found = self.api.get(self.path, {})
        yield Page(body, {}, len(found) if isinstance(found, list) else 0)

    def probe(self) -> None:
        self.api.get(self.path, {})


class NinjaOneSource(Source):
    vendor = "ninjaone"
    default_base_url = "https://app.ninjarmm.com"
    credential_fields: ClassVar[dict[str, str]] = {
        "client_id": "API client id (client credentials)",
        "client_secret": "API client secret",
    }
    stream_classes = (
        Listed.named("organizations", path="/v2/organizations"),
        Listed.named("devices", path="/v2/devices-detailed"),
        Activities,
        Alerts,
    )

    def connect(self, credentials: dict) -> NinjaOneApi:
        return NinjaOneApi(self.base_url, credentials, self.transport)
