"""CSRF on every form, cookie flags, security headers, and a Content-Security-
Policy the pages satisfy (no inline styles, scripts or event handlers)."""

import base64
import hashlib
import re

import pytest
from sqlalchemy import select

from crm import config
from crm.extensions import db
from crm.models import InboxRecord
from factory import create_app
from tests.accounts import csrf_token_of, make_user, sign_in, token_for, with_token
from tests.factories import event, make_client, ndjson, stored_event
from tests.helpers import ingest_file

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


# --- CSRF ---------------------------------------------------------------------------------


def test_a_form_post_without_the_csrf_token_is_refused(csrf_on, login_as):
    make_client("acme")
    http = login_as("staff")
    touch = {"kind": "note", "text": "Called them", "actor": "Ana"}

    refused = http.post("/clients/acme/touches", data=touch)
    assert refused.status_code == 400
    assert "could not be accepted" in refused.get_data(as_text=True)
    forged = http.post("/clients/acme/touches", data=touch | {"csrf_token": "forged"})
    assert forged.status_code == 400

    token = csrf_token_of(http, "/clients/acme")
    assert http.post("/clients/acme/touches", data=touch | {"csrf_token": token}).status_code == 302


def test_every_form_of_the_pages_carries_the_csrf_token(csrf_on, login_as):
    client = make_client("acme")
    stored_event(client, "commitment.made", thread="C-1", title="Call back", due_at=None)
    http = login_as("manager", "admin")
    for path in ("/clients/acme", "/clients/acme/edit", "/clients/new", "/admin/users"):
        html = http.get(path).get_data(as_text=True)
        forms = re.findall(r"<form\b[^>]*>.*?</form>", html, re.DOTALL)
        posted = [form for form in forms if 'method="post"' in form]
        assert posted, path
        for form in posted:
            assert 'name="csrf_token"' in form, (path, form[:200])


def test_signing_in_and_out_need_the_token_too(csrf_on, anonymous):
    user = make_user("staff")
    refused = anonymous.post("/login", data={"email": user.email, "password": "x"})
    assert refused.status_code == 400
    assert sign_in(anonymous, user.email).status_code == 302  # takes the token from the page
    assert anonymous.post("/logout").status_code == 400
    assert anonymous.get("/clients").status_code == 200


def test_the_api_and_the_webhooks_take_no_csrf_token(csrf_on, app):
    make_client("acme")
    api = with_token(app.test_client(), token_for(make_user("staff")))
    touch = {"kind": "note", "text": "Called", "actor": "Ana"}
    assert api.post("/api/v1/clients/acme/touches", json=touch).status_code == 201
    webhook = app.test_client().post("/webhooks/tickets", data=b"{}")
    assert webhook.status_code == 401 and "webhooks for tickets are off" in webhook.json["error"]


# --- cookies ------------------------------------------------------------------------------


def _session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if "session=" in value]
    assert cookies, response.headers
    return cookies[-1]


def test_the_session_cookie_is_http_only_and_same_site(anonymous):
    cookie = _session_cookie(sign_in(anonymous, make_user("staff").email))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development: plain http on a laptop
    assert "Expires=" in cookie  # lasts TOUCHLINE_SESSION_HOURS, not forever


def test_secure_cookies_follow_the_setting_and_production(monkeypatch, tmp_path):
    monkeypatch.delenv("TOUCHLINE_SECURE_COOKIES", raising=False)
    monkeypatch.delenv("TOUCHLINE_ENV", raising=False)
    assert config.from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("TOUCHLINE_ENV", "production")
    assert config.from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("TOUCHLINE_SECURE_COOKIES", "off")
    assert config.from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("TOUCHLINE_SECURE_COOKIES", "maybe")
    with pytest.raises(ValueError, match="TOUCHLINE_SECURE_COOKIES must be on or off"):
        config.from_environment(str(tmp_path))


def test_a_secure_cookie_and_hsts_when_the_setting_is_on(app, anonymous):
    app.config["SESSION_COOKIE_SECURE"] = True
    response = sign_in(anonymous, make_user("staff").email)
    assert "Secure" in _session_cookie(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_refuses_the_development_secret_key(monkeypatch, database_url):
    monkeypatch.setenv("TOUCHLINE_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="needs a SECRET_KEY of its own"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url})


# --- headers ------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(client, anonymous):
    make_client("acme")
    responses = [
        client.get("/clients/acme"),
        client.get("/api/v1/clients/acme"),
        anonymous.get("/login"),
        anonymous.get("/clients"),
        anonymous.get("/health"),
        anonymous.get("/api/v1/clients"),
        anonymous.get("/no/such/page"),
        anonymous.post("/webhooks/tickets", data=b"{}"),
    ]
    with anonymous.get("/static/touchline.css") as stylesheet:
        responses.append(stylesheet)
        for response in responses:
            headers = response.headers
            assert headers["Content-Security-Policy"] == PAGE_POLICY, response.request.path
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "same-origin"
            assert headers["X-Frame-Options"] == "DENY"
            assert "camera=()" in headers["Permissions-Policy"]
        assert stylesheet.headers.get("Cache-Control") != "no-store"
    assert responses[0].headers["Cache-Control"] == "no-store"


def test_the_api_explorer_loads_swagger_from_the_app_and_nothing_else(client):
    """Swagger UI is served by the app (a package ships it): the explorer
    works offline, and its policy names no other origin."""
    page = client.get("/api/docs")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    [inline] = re.findall(r"<script>(.*?)</script>", page.get_data(as_text=True), re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert "http" not in page.headers["Content-Security-Policy"]
    for asset in re.findall(
        r'(?:src|href)="(/api/docs/assets/[^"]+)"', page.get_data(as_text=True)
    ):
        response = client.get(asset)
        assert response.status_code == 200 and response.data, asset
        response.close()
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


# Rendered pages must satisfy the policy: no style attributes or blocks, no
# inline scripts, no event handler attributes, no javascript: links.
FORBIDDEN = {
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE),
    "style block": re.compile(r"<style\b", re.IGNORECASE),
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE),
    "event handler": re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I),
}


def test_the_pages_need_nothing_the_policy_forbids(client, anonymous, runner, tmp_path):
    acme = make_client("acme", tier="key", identities=[("account", "AC-1")])
    stored_event(acme, "ticket.opened", thread="T-1", title="VPN drops")
    stored_event(acme, "invoice.issued", thread="INV-1", amount="120.00", currency="EUR")
    make_client("beta", tier="new")
    admin = make_user("admin", email="root@example.com")
    waiting = event("t-1", "ticket.opened", account="AC-404", title="Printer", thread="T-9")
    run = ingest_file(runner, "tickets", ndjson(tmp_path / "t.ndjson", [waiting]))
    record = db.session.scalar(select(InboxRecord.id))
    pages = [
        "/clients",
        "/clients/new",
        "/clients/acme",
        "/clients/acme/edit",
        "/clients/acme/threads/ticket/T-1",
        "/clients/acme/briefing",
        "/briefings",
        "/briefings?tier=key",
        "/reports/portfolio",
        "/overview",
        "/unmatched",
        "/runs",
        "/account",
        "/admin/users",
        f"/admin/users/{admin.id}",
        f"/admin/users/{admin.id}/tokens",
        "/admin/audit",
        f"/runs/{run['run_id']}",
        f"/inbox/{record}",
    ]
    for path in ["/login", *pages]:
        response = (anonymous if path == "/login" else client).get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        for what, pattern in FORBIDDEN.items():
            found = pattern.search(html)
            assert found is None, f"{path}: {what}: {found and found.group(0)}"
