"""OAuth 2 for the vendors that require it (HubSpot, Salesforce, QuickBooks
Online, Xero): the authorization-code flow with refresh tokens, with Authlib.

An admin adds the connection with the client id and secret of the app they
registered with the vendor (its redirect URI: this site's
/connections/oauth/callback), then clicks "Connect": `authorization_url`
sends them to the vendor with a random `state` kept in their (signed) Flask
session; the callback compares it (constant time), takes the code to the
vendor's token endpoint (`connect`) and stores the tokens sealed with the
other credentials (vault.py) under `oauth_token`, with what the vendor says
the account is (QuickBooks' `realmId`, Xero's tenant).

A sync's requests go through `OAuthSession` (Authlib's requests session):
an access token past its `expires_at` (less a minute) is refreshed before the
request, and one the vendor refuses with a 401 (Salesforce says no expiry) is
refreshed once and the request sent again. Each refreshed token is sealed and
committed at once (`save_token`), since QuickBooks and Xero rotate refresh
tokens: the old one stops working. Tokens are never shown, logged, audited
or answered by the API; audit entries say only that a connection was
connected or its token refreshed.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy.orm import Session

from connectors.connections import vault
from connectors.connections.models import Connection
from connectors.connections.transport import TIMEOUT, SourceError
from crm.accounts.operations import audit

TOKEN = "oauth_token"
# What an admin does about a token the vendor no longer honours.
REAUTHORIZE = "click Connect on /connections to authorize again"
CLIENT_FIELDS = {"client_id": "OAuth client id", "client_secret": "OAuth client secret"}


@dataclass(frozen=True)
class Provider:
    authorize_url: str
    token_url: str
    scope: str
    # How the token endpoint takes the client's credentials.
    client_auth: str = "client_secret_post"

    def at(self, base_url: str) -> "Provider":
        """Salesforce authorizes at the org's own My Domain (its base URL),
        so that a sandbox org works too."""
        return Provider(
            self.authorize_url.format(base=base_url),
            self.token_url.format(base=base_url),
            self.scope,
            self.client_auth,
        )


PROVIDERS = {
    # developers.hubspot.com/docs/api/oauth-quickstart-guide
    "hubspot": Provider(
        "https://app.hubspot.com/oauth/authorize",
        "https://api.hubapi.com/oauth/v1/token",
        "oauth crm.objects.companies.read crm.objects.deals.read crm.objects.contacts.read"
        " sales-email-read content",
    ),
    # help.salesforce.com: OAuth 2.0 Web Server Flow; My Domain endpoints
    "salesforce": Provider(
        "{base}/services/oauth2/authorize", "{base}/services/oauth2/token", "api refresh_token"
    ),
    # developer.intuit.com: OAuth 2.0 (discovery document's endpoints)
    "quickbooks": Provider(
        "https://appcenter.intuit.com/connect/oauth2",
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        "com.intuit.quickbooks.accounting",
        "client_secret_basic",
    ),
    # developer.xero.com/documentation/guides/oauth2/auth-flow
    "xero": Provider(
        "https://login.xero.com/identity/connect/authorize",
        "https://identity.xero.com/connect/token",
        "offline_access accounting.transactions.read accounting.contacts.read",
        "client_secret_basic",
    ),
}
XERO_CONNECTIONS = "https://api.xero.com/connections"


def provider_of(connection: Connection) -> Provider:
    return PROVIDERS[connection.vendor].at(connection.base_url)


class OAuthSession(OAuth2Session):
    """Authlib's session, refreshing on expiry (Authlib) and on a 401 (here).
    Token endpoint errors become SourceError naming what to do."""

    def request(self, method, url, withhold_token=False, auth=None, **kwargs):
        with refusals():
            response = super().request(method, url, withhold_token, auth, **kwargs)
            bearer = auth is None and not withhold_token  # not the token endpoint's own calls
            if response.status_code == 401 and bearer and self.refreshable():
                self.refresh_token(self.metadata["token_endpoint"])
                response = super().request(method, url, withhold_token, auth, **kwargs)
        return response

    def bearer(self, refused: bool = False) -> str:
        """The access token for a client that signs its own requests (the
        HubSpot SDK): refreshed when expired, as `request` does, or when the
        vendor `refused` it (a 401) and a refresh token is at hand."""
        with refusals():
            if refused and self.refreshable():
                self.refresh_token(self.metadata["token_endpoint"])
            else:
                self.ensure_active_token(self.token)
        return self.token["access_token"]

    def refreshable(self) -> bool:
        return bool(self.token and self.token.get("refresh_token"))


@contextmanager
def refusals() -> Iterator[None]:
    """The token endpoint's refusal as a SourceError naming what to do."""
    try:
        yield
    except AuthlibBaseError as error:
        raise SourceError(
            "credentials",
            f"the vendor refused to refresh the OAuth token ({error.error}): {REAUTHORIZE}",
        ) from None


def session_for(
    vendor: str,
    base_url: str,
    credentials: dict,
    on_token: Callable[[dict], None] | None,
) -> OAuthSession:
    """A requests session holding the connection's tokens, or SourceError
    when it has never been connected."""
    token = credentials.get(TOKEN)
    if not token or not token.get("access_token"):
        raise SourceError(
            "credentials", "not connected yet: click Connect on /connections to authorize"
        )
    provider = PROVIDERS[vendor].at(base_url)

    def update_token(new, refresh_token=None, access_token=None):
        if on_token is not None:
            on_token(dict(new))

    return OAuthSession(
        client_id=credentials.get("client_id"),
        client_secret=credentials.get("client_secret"),
        token_endpoint_auth_method=provider.client_auth,
        token=dict(token),
        token_endpoint=provider.token_url,
        update_token=update_token,
    )


def uses_oauth(credentials: dict) -> bool:
    return bool(credentials.get("client_id") and credentials.get("client_secret"))


def _client(connection: Connection, credentials: dict, redirect_uri: str) -> OAuthSession:
    provider = provider_of(connection)
    return OAuthSession(
        client_id=credentials.get("client_id"),
        client_secret=credentials.get("client_secret"),
        token_endpoint_auth_method=provider.client_auth,
        scope=provider.scope,
        redirect_uri=redirect_uri,
    )


class OAuthRefused(ValueError):
    """The flow cannot go on; says why (never with a token or secret)."""


def authorization_url(connection: Connection, redirect_uri: str) -> tuple[str, str]:
    """Where to send the admin, and the state to expect back."""
    credentials = vault.unseal(connection.credentials)
    if connection.vendor not in PROVIDERS or not uses_oauth(credentials):
        raise OAuthRefused(f"{connection.name} has no OAuth client id and secret")
    extra = {"access_type": "offline"} if connection.vendor == "salesforce" else {}
    with _client(connection, credentials, redirect_uri) as client:
        return client.create_authorization_url(provider_of(connection).authorize_url, **extra)


def connect(
    session: Session, connection: Connection, code: str, redirect_uri: str, account: str | None
) -> None:
    """Trade the callback's code for tokens and store them sealed, audited.
    `account`: QuickBooks' realmId from the callback; Xero's tenant is asked."""
    credentials = vault.unseal(connection.credentials)
    with _client(connection, credentials, redirect_uri) as client:
        try:
            token = client.fetch_token(
                provider_of(connection).token_url, code=code, timeout=TIMEOUT
            )
        except AuthlibBaseError as error:
            raise OAuthRefused(
                f"the vendor refused the authorization code ({error.error})"
            ) from None
        except requests.RequestException:
            raise OAuthRefused("the vendor's token endpoint did not answer") from None
        except SourceError as error:
            raise OAuthRefused(str(error)) from None
        if connection.vendor == "quickbooks":
            if not account:
                raise OAuthRefused("QuickBooks sent no realmId with the authorization")
            credentials["realm_id"] = account
        if connection.vendor == "xero":
            credentials["tenant_id"] = _xero_tenant(client)
    credentials[TOKEN] = dict(token)
    connection.credentials = vault.seal(credentials)
    connection.status, connection.status_reason, connection.failures = "active", None, 0
    audit(
        session, "connection.connect", "connection", connection.name, {"vendor": connection.vendor}
    )


def _xero_tenant(client: OAuthSession) -> str:
    """The organisation the admin authorized (`GET /connections`, the first
    ORGANISATION the token may read)."""
    response = client.get(XERO_CONNECTIONS, timeout=TIMEOUT)
    try:
        tenants = response.json() if response.status_code == 200 else []
    except ValueError:
        tenants = []
    for tenant in tenants if isinstance(tenants, list) else []:
        kind = tenant.get("tenantType", "ORGANISATION") if isinstance(tenant, dict) else None
        if kind == "ORGANISATION" and tenant.get("tenantId"):
            return str(tenant["tenantId"])
    raise OAuthRefused("Xero named no organisation this authorization may read")


def save_token(session: Session, connection: Connection, token: dict) -> None:
    """A refreshed token sealed with the rest and committed at once (a
    rotated refresh token is the only one that works from now on), audited
    without it. Called between pages, when nothing else is pending."""
    credentials = vault.unseal(connection.credentials)
    credentials[TOKEN] = token
    connection.credentials = vault.seal(credentials)
    audit(session, "connection.token_refresh", "connection", connection.name)
    session.commit()
