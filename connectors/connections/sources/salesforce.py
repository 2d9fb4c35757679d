"""Salesforce through its maintained client (`simple-salesforce`), whose HTTP
goes through our transport (so 429s and 5xx are retried the one way, see
transport.py).

Credentials: the org's instance (the connection's base URL, such as
https://acme.my.salesforce.com) and either an access token of a user who may
read Accounts and Opportunities (`sf org display` shows one; a token
Salesforce no longer accepts pauses the connection at once with the reason:
paste a new one), or a Connected App's client id and secret, authorized with
"Connect" (connections/oauth.py, at the org's My Domain): Salesforce gives
no expiry, so a 401 (INVALID_SESSION_ID) refreshes the token and the request
is sent again.

Streams, each a SOQL query through the REST query API (up to 2,000 records a
page, the next one at `nextRecordsUrl`), in this order so that opportunities
find their accounts:
- accounts: the identity claims of clients (the salesforce connector's)
- opportunities: the fields the salesforce connector reads, with the account
Each is ordered by SystemModstamp and Id and resumes from the SystemModstamp
of the last record stored, with `>=`: the records of that same second come
again, as duplicates, so none is skipped. Each page is the query response
exactly as Salesforce sent it, which the connector reads (`{"records": [...]}`).
"""

from collections.abc import Iterator
from datetime import UTC
from typing import ClassVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport
from connectors.fields import parse_datetime

API_VERSION = "59.0"


class _Through(requests.Session):
    """A requests session whose every request goes through the transport,
    remembering the last response's body (the page, as sent)."""

    def __init__(self, transport: Transport):
        super().__init__()
        self.transport = transport
        self.last_body = b""

    def request(self, method, url, **kwargs):
        response = self.transport.request(method, url, **kwargs)
        self.last_body = response.content
        return response


class SalesforceApi:
    def __init__(self, base_url: str, access_token: str, transport: Transport):
        self.http = _Through(transport)
        self.client = Salesforce(
            instance_url=base_url, session_id=access_token, session=self.http, version=API_VERSION
        )

    def query(self, soql: str) -> tuple[bytes, dict]:
        return self._page(lambda: self.client.query(soql), soql.split(" FROM ")[-1].split()[0])

    def more(self, next_url: str, sobject: str) -> tuple[bytes, dict]:
        return self._page(lambda: self.client.query_more(next_url, identifier_is_url=True), sobject)

    def _page(self, call, sobject: str) -> tuple[bytes, dict]:
        """The body of one query page and what it says, or SourceError."""
        try:
            document = call()
        except SalesforceExpiredSession:
            raise SourceError(
                "credentials",
                "Salesforce no longer accepts the access token (INVALID_SESSION_ID): "
                "it expired or was revoked; paste a new one",
            ) from None
        except SalesforceRefusedRequest:
            raise SourceError(
                "permission", f"Salesforce: this user may not read {sobject} (403)"
            ) from None
        except SalesforceMalformedRequest as error:
            # INVALID_TYPE / INVALID_FIELD: the object or a field is not visible to the user.
            raise SourceError(
                "permission", f"Salesforce refused the {sobject} query: {_message(error)}"
            ) from None
        except SalesforceResourceNotFound:
            raise SourceError(
                "vendor", "Salesforce: the query API was not found (check the instance URL)"
            ) from None
        except SalesforceError as error:
            raise SourceError(
                "vendor", f"Salesforce answered {error.status} for {sobject}: {_message(error)}"
            ) from None
        return self.http.last_body, document


def _message(error: SalesforceError) -> str:
    content = error.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {content[0].get('message')}"
    return str(content)[:200]


class Query(Stream):
    """One object's records, oldest change first, from the saved SystemModstamp."""

    primary_key = "Id"
    cursor_field = "SystemModstamp"
    sobject: str
    fields: str
    api: SalesforceApi

    def soql(self, since: str | None) -> str:
        where = f"WHERE SystemModstamp >= {since} " if since else ""
        return f"SELECT {self.fields} FROM {self.sobject} {where}ORDER BY SystemModstamp, Id"

    def pages(self, state: dict) -> Iterator[Page]:
        since = state.get("since")
        body, document = self.api.query(self.soql(since))
        while True:
            records = document.get("records") or []
            since = (_modstamp(records[-1]) if records else None) or since
            yield Page(body, {"since": since} if since else {}, len(records))
            next_url = document.get("nextRecordsUrl")
            if document.get("done", True) or not next_url:
                return
            body, document = self.api.more(next_url, self.sobject)

    def probe(self) -> None:
        """One record: names an object the user may not read."""
        self.api.query(f"SELECT Id FROM {self.sobject} LIMIT 1")


def _modstamp(record: dict) -> str | None:
    """When the record last changed, as a SOQL datetime literal (UTC, to the
    second); a response without SystemModstamp falls back to the record's
    other times."""
    for name in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
        if record.get(name):
            try:
                return parse_datetime(record[name]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            except (TypeError, ValueError):
                continue
    return None


class SalesforceSource(Source):
    vendor = "salesforce"
    credential_fields: ClassVar[dict[str, str]] = {
        "access_token": "Access token (sf org display), or a Connected App's client below"
    }
    oauth = "optional"
    stream_classes = (
        Query.named(
            "accounts", sobject="Account", fields="Id, Name, Website, Industry, SystemModstamp"
        ),
        Query.named(
            "opportunities",
            sobject="Opportunity",
            fields="Id, AccountId, Account.Name, Name, StageName, Amount, CloseDate, Type,"
            " Probability, IsClosed, IsWon, CreatedDate, LastModifiedDate, SystemModstamp",
        ),
    )

    def connect(self, credentials: dict) -> SalesforceApi:
        if self.by_oauth(credentials):
            # The OAuth session signs each request with its current token.
            access_token = credentials["oauth_token"]["access_token"]
        else:
            access_token = credentials["access_token"]
        return SalesforceApi(self.base_url, access_token, self.transport)
