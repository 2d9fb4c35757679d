"""OAuth 2 connections (connectors/connections/oauth.py): "Connect" sends the
admin to the vendor, the callback (its state checked) stores the tokens
sealed; an expired token, or one the vendor refuses with a 401, is refreshed
and the new one saved; no token is ever shown, logged or audited. Token
answers: tests/fixtures/vendors/oauth_token_responses_DOCUMENTED_SHAPE.json;
Xero's tenants: xero_openapi_identity_connections.json (Xero's OpenAPI)."""

import json
import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cryptography.fernet import Fernet
from responses import matchers
from sqlalchemy import select

from connectors.connections import oauth, operations, transport, vault
from connectors.connections.models import Connection
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources.hubspot import PROPERTIES, SCOPES
from connectors.connections.sync import sync
from crm.accounts.models import AuditEntry
from tests import hubspot_replay

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
TOKENS = json.loads((VENDORS / "oauth_token_responses_DOCUMENTED_SHAPE.json").read_text())
XERO_TENANTS = json.loads((VENDORS / "xero_openapi_identity_connections.json").read_text())
SECRET = "client-secret-never-shown"
INTUIT_TOKEN = oauth.PROVIDERS["quickbooks"].token_url
SALESFORCE = "https://acme.my.salesforce.com"


def all_tokens() -> list[str]:
    return [
        value
        for answer in TOKENS.values()
        for name, value in answer.items()
        if name in ("access_token", "refresh_token")
    ] + [SECRET]


@pytest.fixture
def keyed(app, monkeypatch):
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    monkeypatch.setattr(transport, "sleep", lambda seconds: None)
    return app


def add(session, vendor: str, name: str, base_url: str | None = None, **credentials):
    data = NewConnectionSchema().load(
        {
            "vendor": vendor,
            "name": name,
            "base_url": base_url,
            "credentials": {"client_id": "client-id", "client_secret": SECRET} | credentials,
        }
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


def sealed(session, name: str) -> dict:
    session.expire_all()
    return vault.unseal(
        session.scalar(select(Connection).where(Connection.name == name)).credentials
    )


def start(client, name: str) -> dict:
    """Click Connect: the vendor's authorization URL, its query read."""
    sent = client.post(f"/connections/{name}/connect")
    assert sent.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(sent.location).query).items()} | {
        "at": sent.location.split("?")[0]
    }


def test_the_callback_stores_the_tokens_sealed_and_shows_none(keyed, client, session, caplog):
    caplog.set_level(logging.DEBUG)
    add(session, "quickbooks", "books")
    asked = start(client, "books")
    assert asked["at"] == "https://appcenter.intuit.com/connect/oauth2"
    assert asked["client_id"] == "client-id" and asked["response_type"] == "code"
    assert asked["scope"] == "com.intuit.quickbooks.accounting"
    assert asked["redirect_uri"] == "http://localhost/connections/oauth/callback"
    with responses.RequestsMock() as mock:
        mock.post(
            INTUIT_TOKEN,
            json=TOKENS["quickbooks"],
            match=[
                matchers.urlencoded_params_matcher(
                    {
                        "grant_type": "authorization_code",
                        "code": "AB11581234567",
                        "redirect_uri": "http://localhost/connections/oauth/callback",
                    },
                    allow_blank=True,
                )
            ],
        )
        back = client.get(
            "/connections/oauth/callback",
            query_string={
                "code": "AB11581234567",
                "state": asked["state"],
                "realmId": "4620816365",
            },
        )
        # Intuit takes the client's credentials as HTTP basic auth.
        assert mock.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert back.status_code == 302
    credentials = sealed(session, "books")
    assert credentials["realm_id"] == "4620816365"
    token = credentials[oauth.TOKEN]
    assert token["access_token"] == TOKENS["quickbooks"]["access_token"]
    assert token["refresh_token"] == TOKENS["quickbooks"]["refresh_token"]
    assert token["expires_at"] > time.time()
    stored = session.scalar(select(Connection).where(Connection.name == "books")).credentials
    shown = [
        client.get("/connections").get_data(as_text=True),
        client.get("/api/v1/connections/books").get_data(as_text=True),
        client.get("/api/v1/audit").get_data(as_text=True),
        repr([(e.action, e.detail) for e in session.scalars(select(AuditEntry))]),
        caplog.text,
    ]
    for secret in all_tokens():
        assert secret.encode() not in stored
        assert all(secret not in text for text in shown)
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target == "books"))
    assert "connection.connect" in set(actions)


def test_a_callback_with_another_state_stores_nothing(keyed, client, session):
    add(session, "quickbooks", "books")
    asked = start(client, "books")
    with responses.RequestsMock() as mock:  # no call to the vendor expected
        forged = client.get(
            "/connections/oauth/callback", query_string={"code": "X", "state": "forged"}
        )
        again = client.get(
            "/connections/oauth/callback", query_string={"code": "X", "state": asked["state"]}
        )
        assert not mock.calls
    # The forged state spent the session's: the real one cannot be replayed after it.
    assert forged.status_code == 400 and again.status_code == 400
    assert oauth.TOKEN not in sealed(session, "books")


def test_xero_is_connected_to_the_organisation_it_names(keyed, client, session):
    add(session, "xero", "ledger")
    asked = start(client, "ledger")
    assert asked["at"] == "https://login.xero.com/identity/connect/authorize"
    assert "offline_access" in asked["scope"].split()
    with responses.RequestsMock() as mock:
        mock.post(oauth.PROVIDERS["xero"].token_url, json=TOKENS["xero"])
        mock.get(
            oauth.XERO_CONNECTIONS,
            json=XERO_TENANTS,
            match=[
                matchers.header_matcher(
                    {"Authorization": f"Bearer {TOKENS['xero']['access_token']}"}
                )
            ],
        )
        client.get(
            "/connections/oauth/callback", query_string={"code": "c0de", "state": asked["state"]}
        )
    credentials = sealed(session, "ledger")
    assert credentials["tenant_id"] == "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
    assert credentials[oauth.TOKEN]["refresh_token"] == TOKENS["xero"]["refresh_token"]


def test_a_refused_code_is_said_and_stores_nothing(keyed, client, session):
    add(session, "xero", "ledger")
    asked = start(client, "ledger")
    with responses.RequestsMock() as mock:
        mock.post(oauth.PROVIDERS["xero"].token_url, status=400, json={"error": "invalid_grant"})
        back = client.get(
            "/connections/oauth/callback",
            query_string={"code": "used", "state": asked["state"]},
            follow_redirects=True,
        )
    assert "refused the authorization code (invalid_grant)" in back.get_data(as_text=True)
    assert oauth.TOKEN not in sealed(session, "ledger")


def salesforce_connected(session, token: dict) -> Connection:
    connection = add(session, "salesforce", "crm", SALESFORCE)
    credentials = vault.unseal(connection.credentials) | {oauth.TOKEN: token}
    connection.credentials = vault.seal(credentials)
    session.commit()
    return connection


def query_url(sobject: str) -> str:
    return f"{SALESFORCE}/services/data/v59.0/query/"


def test_salesforce_refreshes_on_a_401_saves_and_goes_on(keyed, session):
    """Salesforce gives no expiry: the 401 of an expired session refreshes it."""
    connection = salesforce_connected(session, TOKENS["salesforce"])
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    refreshed = TOKENS["salesforce_refreshed"]["access_token"]
    with responses.RequestsMock() as mock:
        mock.get(query_url("Account"), status=401, json=expired)
        mock.post(
            f"{SALESFORCE}/services/oauth2/token",
            json=TOKENS["salesforce_refreshed"],
            match=[
                matchers.urlencoded_params_matcher(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": TOKENS["salesforce"]["refresh_token"],
                        "client_id": "client-id",
                        "client_secret": SECRET,
                    }
                )
            ],
        )
        mock.get(
            query_url("Account"),
            json={"totalSize": 0, "done": True, "records": []},
            match=[matchers.header_matcher({"Authorization": f"Bearer {refreshed}"})],
        )
        run = sync(session, connection, "test")
        assert run.status == "finished", connection.last_error
    token = sealed(session, "crm")[oauth.TOKEN]
    assert token["access_token"] == refreshed
    # Salesforce sends no new refresh token: the old one is kept.
    assert token["refresh_token"] == TOKENS["salesforce"]["refresh_token"]
    actions = set(session.scalars(select(AuditEntry.action)))
    assert "connection.token_refresh" in actions


def test_a_refresh_the_vendor_refuses_pauses_the_connection_saying_so(keyed, session):
    connection = salesforce_connected(session, TOKENS["salesforce"])
    with responses.RequestsMock() as mock:
        mock.get(query_url("Account"), status=401, json=[{"errorCode": "INVALID_SESSION_ID"}])
        mock.post(
            f"{SALESFORCE}/services/oauth2/token",
            status=400,
            json={"error": "invalid_grant", "error_description": "expired access/refresh token"},
        )
        run = sync(session, connection, "test")
    assert run.status == "failed"
    assert connection.status == "paused"
    assert "refused to refresh the OAuth token (invalid_grant)" in connection.status_reason
    assert "click Connect" in connection.status_reason


def hubspot_oauth(session, server, token: dict):
    """A HubSpot connection by OAuth at the local server, holding `token`."""
    connection = add(session, "hubspot", "marketing", hubspot_replay.base(server))
    connection.credentials = vault.seal(vault.unseal(connection.credentials) | {oauth.TOKEN: token})
    session.commit()
    return connection


def token_endpoint(server) -> responses.RequestsMock:
    """HubSpot's token endpoint replayed with `responses` (Authlib's requests
    call it); every other request goes to the local server."""
    mock = responses.RequestsMock()
    mock.add_passthru(hubspot_replay.base(server))
    return mock


def bearers(server) -> set[str]:
    """The tokens the reads carried (the token info's path names its token)."""
    return {
        request.headers.get("Authorization")
        for request, _ in server.log
        if not request.path.startswith("/oauth/")
    }


def test_hubspot_takes_an_oauth_token_and_refreshes_it_when_expired(keyed, session, httpserver):
    stale = TOKENS["hubspot"] | {"expires_at": int(time.time()) - 10}
    connection = hubspot_oauth(session, httpserver, stale)
    fresh = TOKENS["hubspot"] | {"access_token": "CJSP5qf1KhICAQEYs-gDIIGOBii1"}
    hubspot_replay.nothing_anywhere(httpserver)
    info = f"/oauth/v1/access-tokens/{fresh['access_token']}"
    httpserver.expect_request(info).respond_with_json(token_info(SCOPES))
    with token_endpoint(httpserver) as mock:
        mock.post(oauth.PROVIDERS["hubspot"].token_url, json=fresh)
        ok, _problem, message = operations.check(connection)
        assert len(mock.calls) == 1  # refreshed once, before the first call
    assert ok, message
    # Every stream read with the fresh token: the SDK's calls and the transport's.
    assert bearers(httpserver) == {f"Bearer {fresh['access_token']}"}
    assert len(httpserver.log) == len(PROPERTIES) + 2
    assert sealed(session, "marketing")[oauth.TOKEN]["access_token"] == fresh["access_token"]


def test_a_hubspot_sync_refreshes_a_token_hubspot_refuses_and_goes_on(
    keyed, session, httpserver, caplog
):
    caplog.set_level(logging.DEBUG)
    live = TOKENS["hubspot"] | {"expires_at": int(time.time()) + 1800}
    connection = hubspot_oauth(session, httpserver, live)
    fresh = TOKENS["hubspot"] | {"access_token": "CJSP5qf1KhICAQEYs-gDIIGOBii1"}
    # HubSpot revoked the live token early: its first call answers 401.
    httpserver.expect_oneshot_request("/crm/v3/objects/companies").respond_with_json(
        {"status": "error", "message": "The OAuth token used to make this call expired."},
        status=401,
    )
    hubspot_replay.backfill(httpserver)
    with token_endpoint(httpserver) as mock:
        mock.post(oauth.PROVIDERS["hubspot"].token_url, json=fresh)
        run = sync(session, connection, "test")
        assert len(mock.calls) == 1
    assert run.status == "finished", connection.last_error
    sent = [request.headers["Authorization"] for request, _ in httpserver.log]
    assert sent[0] == f"Bearer {live['access_token']}"
    assert set(sent[1:]) == {f"Bearer {fresh['access_token']}"}  # the same call again, then all
    assert len(sent) == 1 + 2 + 5 + 1  # refused, companies' two pages, five lists, events
    assert sealed(session, "marketing")[oauth.TOKEN]["access_token"] == fresh["access_token"]
    assert all(secret not in caplog.text for secret in all_tokens())


def token_info(scopes) -> dict:
    """Built to the documented shape of `GET /oauth/v1/access-tokens/{token}`
    (developers.hubspot.com, OAuth access token info): no vendor sample."""
    return {
        "token": "CJSP5qf1KhICAQEYs-gDIIGOBii1",
        "user": "admin@example.com",
        "hub_domain": "example.com",
        "scopes": list(scopes),
        "hub_id": 62515,
        "app_id": 456,
        "expires_in": 1754,
        "user_id": 123,
        "token_type": "access",
    }


def test_hubspot_oauth_check_names_the_scopes_the_token_lacks(keyed, session, httpserver):
    live = TOKENS["hubspot"] | {"expires_at": int(time.time()) + 1800}
    connection = hubspot_oauth(session, httpserver, live)
    hubspot_replay.nothing_anywhere(httpserver)
    granted = ["oauth", "crm.objects.companies.read", "sales-email-read"]
    info = f"/oauth/v1/access-tokens/{live['access_token']}"
    httpserver.expect_request(info).respond_with_json(token_info(granted))
    ok, problem, message = operations.check(connection)
    assert not ok and problem == "permission"
    assert message == "HubSpot: the app is missing scopes: grant crm.objects.deals.read, content"


def test_an_oauth_connection_never_connected_says_so(keyed, client, session):
    add(session, "xero", "ledger")
    said = client.post("/api/v1/connections/ledger/test").get_json()
    assert said["ok"] is False and said["problem"] == "credentials"
    assert "click Connect" in said["message"]
