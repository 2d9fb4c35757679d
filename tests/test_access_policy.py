"""Who may open what: every route has a policy entry, anonymous requests are
refused everywhere but the public few, and each role can do exactly what its
line in the issue says, page and API, and nothing else."""

import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.routing import IntegerConverter, PathConverter

from crm.accounts import policy
from tests.accounts import make_user, signed_in_client, token_for, with_token
from tests.factories import event, make_client, stored_event

PUBLIC_ENDPOINTS = {
    "static",
    "api_docs_assets",
    "core.health",
    "core.ready",
    "webhooks.receive",
    # a sender's GET of its URL (Mailchimp's check), authenticated as its POSTs are
    "webhooks.check_url",
    "accounts.login",
    "accounts.logout",
    # an e-mail's signed link stops it without signing in (crm.accounts.unsubscribe)
    "unsubscribe.confirm",
    "unsubscribe.unsubscribe",
}
# What each role may do, as the issue words it; the policy must agree.
ALLOWED = {
    "admin": {"users", "tokens", "connectors", "imports", "identities", "audit", "digest"},
    "manager": {"clients:read", "clients:write", "touches", "briefings", "portfolio", "imports"},
    "staff": {"clients:read", "touches"},
    "executive": {"clients:read", "briefings", "portfolio", "digest"},
}
NEW_CLIENT = {"name": "Beta Build", "tier": "new", "status": "active", "timezone": "UTC"}
# Sample values for the routes' arguments, by name.
SAMPLE_ARGS = {
    "slug": "acme",
    "thread_type": "ticket",
    "key": "T-1",
    "record_id": 1,
    "run_id": 1,
    "user_id": 1,
    "token_id": 1,
    "connector": "tickets",
    "name": "tickets",
    "job_id": 1,
    "meeting_id": 1,
    "filename": "touchline.css",
    "token": "not-a-signed-token",
}


def _routes(app):
    """(endpoint, method, sample URL) for every route and method of the app."""
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        missing = set(rule.arguments) - set(SAMPLE_ARGS)
        assert not missing, f"{rule.rule}: add sample values for {missing} to SAMPLE_ARGS"
        for argument, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter):
                assert isinstance(SAMPLE_ARGS[argument], int), argument
            elif isinstance(converter, PathConverter):
                assert isinstance(SAMPLE_ARGS[argument], str), argument
        values = {name: SAMPLE_ARGS[name] for name in rule.arguments}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, adapter.build(rule.endpoint, values, method=method)


# --- the table covers the app -------------------------------------------------------------


def test_every_route_and_method_has_an_entry_in_the_policy(app):
    missing = [
        f"{method} {url} ({endpoint})"
        for endpoint, method, url in _routes(app)
        if policy.required(endpoint, method) is None
    ]
    assert not missing, "add these to crm/accounts/policy.py ENDPOINTS:\n" + "\n".join(missing)


def test_the_policy_names_no_route_that_does_not_exist(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(policy.ENDPOINTS) - endpoints == set()


def test_only_login_static_health_webhooks_and_unsubscribe_are_public(app):
    public = {
        endpoint
        for endpoint, method, _ in _routes(app)
        if policy.required(endpoint, method) == policy.PUBLIC
    }
    assert public == PUBLIC_ENDPOINTS


def test_the_roles_grant_what_the_issue_says():
    assert {role: set(granted) for role, granted in policy.ROLE_CAPABILITIES.items()} == ALLOWED


@pytest.mark.fresh_app
def test_a_route_missing_from_the_policy_is_refused_even_with_every_role(app, login_as, anonymous):
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")

    assert anonymous.get("/forgotten").status_code == 302
    page = login_as(*policy.ROLE_CAPABILITIES).get("/forgotten")
    assert page.status_code == 403
    assert "no entry in the access policy" in page.get_data(as_text=True)


# --- anonymous ----------------------------------------------------------------------------


def test_anonymous_requests_are_refused_on_every_page_and_endpoint(app, anonymous):
    make_client("acme")
    checked = 0
    for endpoint, method, url in _routes(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        response = anonymous.open(url, method=method)
        checked += 1
        if url.startswith("/api/") and endpoint != "api-docs.openapi_swagger_ui":
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), url
            body = response.get_json()
            assert body["code"] == 401 and body["field"] is None and body["message"], url
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            location = response.headers["Location"]
            assert location.startswith("/login"), (url, location)
            if method == "GET":
                assert parse_qs(urlsplit(location).query)["next"] == [url], location
    assert checked > 50


def test_public_endpoints_answer_anonymous_requests(anonymous):
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/login").status_code == 200
    with anonymous.get("/static/touchline.css") as stylesheet:
        assert stylesheet.status_code == 200
    # The webhook answers on its own terms: no secret configured means 401 from
    # the webhook itself, not a redirect to the login page.
    webhook = anonymous.post("/webhooks/tickets", data=b"{}")
    assert webhook.status_code == 401 and "webhooks for tickets are off" in webhook.json["error"]


# --- a test per role per capability ---------------------------------------------------------


def _setup():
    client = make_client("acme", identities=[("account", "AC-1")], tier="standard")
    stored_event(client, "ticket.opened", thread="T-1", title="VPN drops")
    admin = make_user("admin", email="someone@touchline.test")
    return admin


def _upload():
    record = event("t-9", "ticket.opened", account="AC-1", title="Printer", thread="T-9")
    return {"file": (io.BytesIO(json.dumps(record).encode() + b"\n"), "tickets.ndjson")}


# capability -> requests that need it: (method, URL, request arguments, status when allowed)
PROBES = {
    "clients:read": [
        ("GET", "/clients", {}, 200),
        ("GET", "/clients/acme", {}, 200),
        ("GET", "/clients/acme/threads/ticket/T-1", {}, 200),
        ("GET", "/api/v1/clients", {}, 200),
        ("GET", "/api/v1/clients/acme", {}, 200),
        ("GET", "/api/v1/clients/acme/timeline", {}, 200),
        ("GET", "/api/v1/clients/acme/card", {}, 200),
        ("GET", "/api/v1/clients/acme/devices", {}, 200),
        ("GET", "/api/v1/clients/acme/threads/ticket/T-1", {}, 200),
        ("GET", "/api/v1/clients/acme/commitments", {}, 200),
    ],
    "clients:write": [
        ("GET", "/clients/new", {}, 200),
        ("GET", "/clients/acme/edit", {}, 200),
        ("POST", "/clients/new", {"data": NEW_CLIENT}, 302),
        ("PATCH", "/api/v1/clients/acme", {"json": {"tier": "key"}}, 200),
        ("POST", "/api/v1/clients", {"json": {"name": "Gamma"}}, 201),
        ("POST", "/reports/portfolio/tiers", {"data": {"slug": "acme", "tier": "problem"}}, 303),
    ],
    "touches": [
        (
            "POST",
            "/clients/acme/touches",
            {"data": {"kind": "note", "text": "Hi", "actor": "Me"}},
            302,
        ),
        (
            "POST",
            "/api/v1/clients/acme/touches",
            {"json": {"kind": "call", "text": "Hi", "actor": "Me"}},
            201,
        ),
        (
            "POST",
            "/api/v1/clients/acme/commitments",
            {"json": {"title": "Send the quote", "due_at": "2031-01-01T10:00:00", "actor": "Me"}},
            201,
        ),
        (
            "POST",
            "/clients/acme/commitments",
            {"data": {"title": "Call back", "due_at": "2031-01-02T10:00", "actor": "Me"}},
            302,
        ),
    ],
    "briefings": [
        ("GET", "/clients/acme/briefing", {}, 200),
        ("GET", "/briefings", {}, 200),
        ("GET", "/api/v1/clients/acme/briefing", {}, 200),
    ],
    "digest": [
        ("GET", "/reports/digest", {}, 200),
    ],
    "portfolio": [
        ("GET", "/reports/portfolio", {}, 200),
        ("GET", "/reports/portfolio.csv", {}, 200),
        ("GET", "/api/v1/reports/portfolio", {}, 200),
        ("GET", "/overview", {}, 200),
    ],
    "identities": [
        ("GET", "/unmatched", {}, 200),
        ("GET", "/api/v1/identities", {}, 200),
        ("GET", "/api/v1/unmatched", {}, 200),
        ("GET", "/api/v1/unmatched/records", {}, 200),
        (
            "POST",
            "/api/v1/identities",
            {"json": {"system": "account", "key": "AC-2", "client": "acme"}},
            200,
        ),
        (
            "POST",
            "/unmatched/map",
            {"data": {"system": "account", "key": "AC-3", "client": "acme"}},
            302,
        ),
    ],
    "imports": [
        ("GET", "/runs", {}, 200),
        ("POST", "/runs/import", {"data": "import upload"}, 302),
    ],
    "connectors": [
        ("GET", "/api/v1/runs", {}, 200),
        ("POST", "/api/v1/ingest/tickets", {"data": "upload"}, 200),
    ],
    "users": [
        ("GET", "/admin/users", {}, 200),
        ("GET", "/admin/users/{admin}", {}, 200),
        ("POST", "/admin/users", {"data": {"email": "new@touchline.test", "roles": "staff"}}, 201),
    ],
    "tokens": [
        ("GET", "/admin/users/{admin}/tokens", {}, 200),
        ("POST", "/admin/users/{admin}/tokens", {"data": {"name": "script"}}, 201),
    ],
    "audit": [
        ("GET", "/admin/audit", {}, 200),
        ("GET", "/api/v1/audit", {}, 200),
    ],
}


def test_every_capability_has_probes():
    assert set(PROBES) == set(policy.CAPABILITIES)


@pytest.mark.parametrize("capability", sorted(PROBES))
@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_role_can_do_exactly_its_share(role, capability, login_as):
    admin = _setup()
    http = login_as(role, token=True)
    allowed = capability in ALLOWED[role]
    for method, url, arguments, status in PROBES[capability]:
        url = url.format(admin=admin.id)
        if arguments.get("data") == "upload":
            arguments = {"data": _upload(), "content_type": "multipart/form-data"}
        elif arguments.get("data") == "import upload":
            arguments = {
                "data": _upload() | {"connector": "tickets"},
                "content_type": "multipart/form-data",
            }
        response = http.open(url, method=method, **arguments)
        if allowed:
            assert response.status_code == status, (role, method, url, response.get_data()[:300])
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)
            if url.startswith("/api/"):
                assert role in response.get_json()["message"]
            else:
                assert "do not allow you to" in response.get_data(as_text=True)


def test_roles_add_up(login_as):
    _setup()
    http = login_as("staff", "executive")
    assert http.get("/clients/acme/briefing").status_code == 200  # executive
    touch = {"kind": "note", "text": "Met them", "actor": "Me"}
    assert http.post("/clients/acme/touches", data=touch).status_code == 302  # staff
    assert http.get("/clients/acme/edit").status_code == 403  # neither


def test_any_account_may_open_home_its_account_and_the_api_explorer(login_as):
    http = login_as("executive")
    assert http.get("/").status_code == 302
    assert http.get("/account").status_code == 200
    assert http.get("/api/docs").status_code == 200
    assert http.get("/api/openapi.json").status_code == 200
    assert http.get("/api/v1/me").json["roles"] == ["executive"]


def test_the_menu_shows_only_the_pages_the_roles_open(login_as):
    html = login_as("staff").get("/clients").get_data(as_text=True)
    menu = re.search(r'<nav class="mainnav".*?</nav>', html, re.DOTALL).group(0)
    assert 'href="/clients"' in menu
    for path in ("/unmatched", "/runs", "/briefings", "/reports/portfolio", "/admin/users"):
        assert f'href="{path}"' not in menu, path


def test_signing_in_lands_on_the_first_page_the_roles_open(app):
    staff = signed_in_client(app, make_user("staff"))
    assert staff.get("/login").headers["Location"] == "/clients"
    admin = signed_in_client(app, make_user("admin"))
    assert admin.get("/login").headers["Location"] == "/unmatched"


# --- session and token on the API -----------------------------------------------------------


def test_the_api_reads_with_the_session_but_writes_only_with_a_token(app, login_as):
    make_client("acme")
    browser = login_as("manager")
    touch = {"kind": "note", "text": "Hi", "actor": "Me"}

    assert browser.get("/api/v1/clients/acme").status_code == 200
    refused = browser.post("/api/v1/clients/acme/touches", json=touch)
    assert refused.status_code == 401
    assert "Bearer" in refused.json["message"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert browser.patch("/api/v1/clients/acme", json={"tier": "key"}).status_code == 401

    user = make_user("manager")
    assert (
        with_token(browser, token_for(user))
        .post("/api/v1/clients/acme/touches", json=touch)
        .status_code
        == 201
    )


def test_a_token_opens_the_api_not_the_pages(api_as):
    make_client("acme")
    http = api_as("manager")
    assert http.get("/api/v1/clients/acme").status_code == 200
    page = http.get("/clients/acme")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


def test_a_token_speaks_for_its_own_account_over_the_session_cookie(login_as):
    make_client("acme")
    http = login_as("manager")
    with_token(http, token_for(make_user("staff")))
    assert http.get("/api/v1/me").json["roles"] == ["staff"]
    assert http.patch("/api/v1/clients/acme", json={"tier": "key"}).status_code == 403


def test_refusals_are_in_the_openapi_document(client):
    document = client.get("/api/openapi.json").json
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerAuth": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "patch", "put", "delete"):
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_everyone_lands_on_a_page_their_roles_open(login_as):
    assert login_as("staff").get("/").headers["Location"].endswith("/clients")
    assert login_as("admin").get("/").headers["Location"].endswith("/unmatched")


def test_the_directory_offers_new_client_only_to_who_may_create_one(login_as):
    assert "New client" in login_as("manager").get("/clients").get_data(as_text=True)
    assert "New client" not in login_as("staff").get("/clients").get_data(as_text=True)
