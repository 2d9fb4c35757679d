"""HubSpot's calls, through its maintained client (`hubspot-api-client`) for
the CRM and OAuth, and through the transport for the one API it lacks.

- Host: the SDK's `Configuration.host` is the connection's base URL, so that
  tests and sandboxes point elsewhere.
- Credentials: the SDK signs with `Configuration.access_token`: a private
  app's token, or the OAuth session's (connections/oauth.py), which Authlib
  refreshes when it has expired, or once when HubSpot refuses it (401).
- Waiting: urllib3's own retries are off (`retry=False`: an error is raised,
  never retried or slept on behind our back), and each call goes through
  `transport.retrying` reading the status and headers of the SDK's
  ApiException: one rule for 429 Retry-After and 5xx backoff, the transport's.
- Answers: `_preload_content=False`, so that a page is the response's own
  JSON (the hubspot connector reads HubSpot's JSON, not the SDK's models).
- Marketing email events: the Email Events API (`GET /email/public/v1/events`)
  is not in the SDK (its marketing package has marketing emails v3 and
  marketing events, not email events), so that stream keeps the transport's
  requests, read by the same rules.
Messages never hold the token: the token-info call's path does, so its
failures name only the status.
"""

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsError
from hubspot.crm.associations.v4.models import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.exceptions import ApiException as ObjectsError
from hubspot.crm.objects.models import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.oauth.exceptions import ApiException as OAuthError

from connectors.connections.transport import TIMEOUT, SourceError, Transport, retrying

# The property search filters and sorts on: when an object last changed.
MODIFIED = "hs_lastmodifieddate"
SDK_ERRORS = (ObjectsError, AssociationsError, OAuthError)
# urllib3's failures to get an answer (refused, DNS, timeouts, dropped).
NETWORK = (urllib3.exceptions.HTTPError,)


class Answer:
    """One HTTP answer, whichever client got it: status, headers, body."""

    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers or {}, body or b""

    @classmethod
    def of(cls, call: Callable) -> "Answer":
        """The SDK's answer to `call()`: its raw response, or its ApiException."""
        try:
            response = call()
        except SDK_ERRORS as error:
            # Status 0: the SDK's word for a TLS failure.
            return cls(error.status or 0, error.headers, error.body)
        answer = cls(response.status, response.headers, response.data)
        response.release_conn()
        return answer

    def json(self) -> dict:
        try:
            document = json.loads(self.body)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}


class HubSpotApi:
    def __init__(self, base_url: str, token: str | None, transport: Transport):
        """`token`: a private app's; None where the transport's OAuth session
        holds the tokens (and refreshes them)."""
        self.base_url = base_url
        self.token = token
        self.transport = transport
        self.oauth = None if token else transport.session
        client = HubSpot(access_token=token, host=base_url, retry=False)
        # Each SDK API carries its own configuration (and connection pool):
        # made once, and each signed again when the OAuth token changes.
        self.objects = client.crm.objects.basic_api
        self.searches = client.crm.objects.search_api
        self.associations = client.crm.associations.v4.batch_api
        self.tokens = client.oauth.access_tokens_api
        self.apis = (self.objects, self.searches, self.associations, self.tokens)
        self.host = urlsplit(base_url).netloc or base_url

    def page(self, name: str, **params) -> tuple[bytes, dict]:
        """One page of `GET /crm/v3/objects/{name}`."""
        return self._read(
            f"/crm/v3/objects/{name}", lambda **kw: self.objects.get_page(name, **params, **kw)
        )

    def search(self, name: str, since_millis: str, properties, limit: int, after: str | None):
        """One page of `POST /crm/v3/objects/{name}/search`: modified at or
        after `since_millis`, oldest first."""
        request = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[Filter(property_name=MODIFIED, operator="GTE", value=since_millis)]
                )
            ],
            # HubSpot takes {propertyName, direction}; the SDK types it loosely.
            sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
            properties=list(properties),
            limit=limit,
            after=after,
        )
        return self._read(
            f"/crm/v3/objects/{name}/search",
            lambda **kw: self.searches.do_search(name, request, **kw),
        )

    def companies_of(self, name: str, ids: list[str]) -> dict:
        """The v4 association batch answer: each object's companies."""
        request = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=object_id) for object_id in ids]
        )
        path = f"/crm/v4/associations/{name}/companies/batch/read"
        return self._read(
            path, lambda **kw: self.associations.get_page(name, "companies", request, **kw)
        )[1]

    def granted(self) -> list:
        """The scopes the OAuth access token's info lists
        (`GET /oauth/v1/access-tokens/{token}`)."""
        token = self._sign()
        answer = self._send(lambda **kw: self.tokens.get(token, **kw))
        if answer.status != 200:
            raise SourceError(
                "credentials", f"HubSpot does not know the OAuth token ({answer.status})"
            )
        return answer.json().get("scopes") or []

    def legacy(self, path: str, params: dict) -> tuple[bytes, dict]:
        """A GET the SDK does not cover, through the transport (whose OAuth
        session signs and refreshes)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.transport.request(
            "GET", f"{self.base_url}{path}", params=params, headers=headers
        )
        return read(path, Answer(response.status_code, response.headers, response.content))

    def close(self) -> None:
        for api in self.apis:
            api.api_client.rest_client.pool_manager.clear()

    def _read(self, path: str, call: Callable) -> tuple[bytes, dict]:
        self._sign()
        answer = self._send(call)
        if answer.status == 401 and self.oauth is not None and self.oauth.refreshable():
            self._sign(refused=True)
            answer = self._send(call)
        return read(path, answer)

    def _send(self, call: Callable) -> Answer:
        """`call`, retried by the transport's one rule."""
        return retrying(
            lambda: Answer.of(lambda: call(_preload_content=False, _request_timeout=TIMEOUT)),
            lambda answer: (answer.status, answer.headers),
            self.host,
            self.transport.attempts,
            NETWORK,
        )

    def _sign(self, refused: bool = False) -> str | None:
        """The token the SDK's APIs send: the OAuth session's, current."""
        if self.oauth is None:
            return self.token
        token = self.oauth.bearer(refused)
        for api in self.apis:
            api.api_client.configuration.access_token = token
        return token


def read(path: str, answer: Answer) -> tuple[bytes, dict]:
    """The answer's body and JSON, or SourceError saying what is wrong."""
    status = answer.status
    if status == 0:
        raise SourceError("unreachable", f"HubSpot did not answer {path} over TLS")
    if status == 401:
        raise SourceError("credentials", "HubSpot refused the access token (401)")
    if status == 403:
        error = SourceError("permission", forbidden(path, answer))
        error.scopes = scopes(answer)
        raise error
    if status >= 400:
        raise SourceError("vendor", f"HubSpot answered {status} for {path}")
    try:
        document = json.loads(answer.body)
    except ValueError:
        raise SourceError("vendor", f"HubSpot answered {path} with something not JSON") from None
    return answer.body, document if isinstance(document, dict) else {}


def forbidden(path: str, answer: Answer) -> str:
    """HubSpot's 403: `{"category": "MISSING_SCOPES", "errors": [{"context":
    {"requiredGranularScopes": [...]}}]}` names the scopes to grant."""
    wanted = scopes(answer)
    if answer.json().get("category") == "MISSING_SCOPES" or wanted:
        grant = f": grant {', '.join(wanted)}" if wanted else ""
        return f"HubSpot: the private app is missing a scope to read {path} (403{grant})"
    return f"HubSpot: the access token may not read {path} (403)"


def scopes(answer: Answer) -> list[str]:
    """The scopes a 403 MISSING_SCOPES answer names, in order, once each."""
    found: list[str] = []
    for error in answer.json().get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            for name in ("requiredGranularScopes", "requiredScopes"):
                for scope in context.get(name) or []:
                    found += [str(scope)] if str(scope) not in found else []
    return found
