"""Managing connections from the pages, the API and the command line: what
a test of the connection says, and credentials that never come back out."""

import logging

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import select

from connectors.connections import operations, transport
from connectors.connections.models import Connection
from crm.accounts.models import AuditEntry
from crm.jobs.models import Job
from factory import create_app
from tests import vendor_apis as api

STRIPE_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"  # Stripe's documented test key
ZENDESK_TOKEN = "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"
WEBHOOK_SECRET = "whsec_test_secret_never_shown"
SECRETS = (STRIPE_KEY, ZENDESK_TOKEN, WEBHOOK_SECRET)
# Stripe's answer to a wrong key, as its API reference documents errors.
STRIPE_401 = {
    "error": {
        "message": "Invalid API Key provided: sk_test_****7dc",
        "type": "invalid_request_error",
    }
}


@pytest.fixture
def keyed(app, monkeypatch):
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    monkeypatch.setattr(transport, "sleep", lambda seconds: None)
    return app


def add_stripe(client, name="billing", **extra):
    body = {
        "vendor": "stripe",
        "name": name,
        "base_url": api.STRIPE,
        "credentials": {"api_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET},
    } | extra
    return client.post("/api/v1/connections", json=body)


def add_zendesk(client, name="helpdesk"):
    return client.post(
        "/api/v1/connections",
        json={
            "vendor": "zendesk",
            "name": name,
            "base_url": api.ZENDESK,
            "credentials": {"email": "agent@acme.example", "api_token": ZENDESK_TOKEN},
        },
    )


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_credentials_are_sealed_and_never_come_back(keyed, client, session, caplog):
    caplog.set_level(logging.DEBUG)
    added = add_stripe(client)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["base_url"] == api.STRIPE
    assert added.get_json()["interval_minutes"] == 15
    with api.replayed() as mock:
        api.add_stripe_list(mock, "customers", api.customers(1), 100)
        for name in ("invoices", "charges", "disputes", "refunds", "subscriptions", "events"):
            api.add_stripe_list(mock, name, [], 100)
        tested = client.post("/api/v1/connections/billing/test")
        synced = client.post("/api/v1/connections/billing/sync")
    assert tested.get_json()["ok"] is True
    assert synced.status_code == 202 and synced.get_json()["status"] == "done"
    answers = [
        added,
        tested,
        synced,
        client.get("/api/v1/connections"),
        client.get("/api/v1/connections/billing"),
        client.get("/connections"),
        client.get("/api/v1/audit"),
        client.get(f"/api/v1/jobs/{synced.get_json()['id']}"),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201, 202)
        assert_no_secret(answer.get_data(as_text=True))
    stored = session.scalar(select(Connection).where(Connection.name == "billing"))
    assert STRIPE_KEY.encode() not in stored.credentials
    assert STRIPE_KEY not in repr(operations.named(session, "billing").__dict__)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.target == "billing")).all()
    assert {entry.action for entry in audit} >= {"connection.create", "connection.test"}
    assert_no_secret(repr([(entry.action, entry.detail) for entry in audit]))
    assert_no_secret(caplog.text)
    # The webhook secret is there for the webhooks to read (connectors/webhooks.py).
    assert operations.webhook_secret_for(session, "stripe") == WEBHOOK_SECRET
    assert operations.webhook_secret_for(session, "zendesk") is None


BAD_KEY = (
    add_stripe,
    f"{api.STRIPE}/v1/customers",
    {"status": 401, "json": STRIPE_401},
    "billing",
    ("credentials", "Stripe rejected the API key (401)"),
)
UNREACHABLE = (
    add_zendesk,
    f"{api.ZENDESK}/api/v2/users/me.json",
    {"body": requests.ConnectionError("Name or service not known")},
    "helpdesk",
    ("unreachable", "acme.zendesk.test did not answer: name or service not known"),
)


@pytest.mark.parametrize("add, url, answer, name, expected", [BAD_KEY, UNREACHABLE])
def test_a_connection_test_names_a_bad_key_or_host(keyed, client, add, url, answer, name, expected):
    add(client)
    with api.replayed() as mock:
        mock.get(url, **answer)
        said = client.post(f"/api/v1/connections/{name}/test").get_json()
    assert said == {"ok": False, "problem": expected[0], "message": expected[1]}


def test_a_connection_test_names_a_missing_scope(keyed, client):
    """A restricted key without a resource's read: Stripe answers 403."""
    add_stripe(client)
    refused = {
        "error": {
            "message": "The provided key 'rk_test_***' does not have the required permissions"
            " for this endpoint. Having the 'rak_charge_read' permission would allow this"
            " request to continue.",
            "type": "invalid_request_error",
        }
    }
    with api.replayed() as mock:
        api.add_stripe_list(mock, "customers", [], 100)
        api.add_stripe_list(mock, "invoices", [], 100)
        mock.get(f"{api.STRIPE}/v1/charges", status=403, json=refused)
        answer = client.post("/api/v1/connections/billing/test").get_json()
    assert answer["ok"] is False and answer["problem"] == "permission"
    assert "/v1/charges" in answer["message"] and "rak_charge_read" in answer["message"]


def test_a_zendesk_test_names_a_token_that_is_not_an_admins(keyed, client):
    add_zendesk(client)
    with api.replayed() as mock:
        mock.get(f"{api.ZENDESK}/api/v2/users/me.json", json=api.zendesk_me("end-user"))
        answer = client.post("/api/v1/connections/helpdesk/test").get_json()
        sent = mock.calls[0].request.headers["Authorization"]
    assert sent.startswith("Basic ")  # email/token and the token, as Zendesk documents
    assert answer["problem"] == "permission"
    assert "test@example.org is a end-user" in answer["message"]
    with api.replayed() as mock:
        mock.get(f"{api.ZENDESK}/api/v2/users/me.json", json=api.zendesk_me("admin"))
        assert client.post("/api/v1/connections/helpdesk/test").get_json()["ok"] is True


def test_what_is_missing_is_named(keyed, client):
    no_token = client.post(
        "/api/v1/connections",
        json={"vendor": "zendesk", "name": "hd", "credentials": {"email": "a@b.example"}},
    )
    assert no_token.status_code == 422
    errors = no_token.get_json()["errors"]["json"]
    assert "api_token missing" in str(errors["credentials"])
    assert "base_url" in errors
    assert add_stripe(client).status_code == 201
    assert add_stripe(client).status_code == 409


def test_without_a_key_nothing_is_stored_in_clear(app, client, session):
    app.config["CREDENTIALS_KEY"] = ""
    answer = add_stripe(client)
    assert answer.status_code == 503
    assert "TOUCHLINE_CREDENTIALS_KEY" in answer.get_json()["message"]
    assert session.scalar(select(Connection)) is None


def test_pause_resume_delete_from_the_pages(keyed, client, session):
    page = client.post(
        "/connections",
        data={
            "vendor": "stripe",
            "name": "billing",
            "base_url": api.STRIPE,
            "interval_minutes": "30",
            "stripe-api_key": STRIPE_KEY,
        },
    )
    assert page.status_code == 302
    shown = client.get("/connections").get_data(as_text=True)
    assert "billing" in shown and "every 30 min" in shown and "never" in shown
    assert_no_secret(shown)
    client.post("/connections/billing/pause")
    connection = operations.named(session, "billing")
    assert (connection.status, connection.status_reason) == ("paused", "paused by an admin")
    client.post("/connections/billing/resume")
    session.refresh(connection)
    assert connection.status == "active" and connection.next_run_at is None
    with api.replayed() as mock:
        mock.get(f"{api.STRIPE}/v1/customers", status=401, json=STRIPE_401)
        synced = client.post("/connections/billing/sync")
    job = session.get(Job, int(synced.headers["Location"].rsplit("/", 1)[1]))
    assert job.status == "failed" and job.error == "Stripe rejected the API key (401)"
    session.refresh(connection)
    assert connection.status == "paused"
    assert "Stripe rejected the API key" in client.get("/connections").get_data(as_text=True)
    client.post("/connections/billing/delete")
    assert operations.named(session, "billing") is None


def test_a_bad_form_says_why_and_keeps_no_credentials(keyed, client):
    page = client.post(
        "/connections",
        data={"vendor": "zendesk", "name": "Help Desk", "zendesk-api_token": ZENDESK_TOKEN},
    )
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "name:" in text and "email missing" in text
    assert_no_secret(text)


def test_the_command_line(keyed, runner, session):
    added = runner.invoke(
        args=["connections", "add", "billing", "--vendor", "stripe", "--base-url", api.STRIPE],
        input=f"{STRIPE_KEY}\n\n",
    )
    assert added.exit_code == 0, added.output
    assert_no_secret(added.output)
    listed = runner.invoke(args=["connections", "list"])
    assert "billing\tstripe" in listed.output and "never synced" in listed.output
    with api.replayed() as mock:
        mock.get(f"{api.STRIPE}/v1/customers", status=401, json=STRIPE_401)
        tested = runner.invoke(args=["connections", "test", "billing"])
        synced = runner.invoke(args=["sync", "--due"])
    assert tested.exit_code == 1 and "credentials: Stripe rejected the API key" in tested.output
    assert synced.exit_code == 1 and "billing: run" in synced.output
    # Paused now (a bad key does not mend itself): no longer due.
    assert "billing" not in runner.invoke(args=["sync", "--due"]).output
    assert runner.invoke(args=["connections", "resume", "billing"]).exit_code == 0
    assert runner.invoke(args=["sync"]).exit_code == 2  # NAME or --due


def test_rotating_the_key(keyed, runner, session, app):
    runner.invoke(
        args=["connections", "add", "billing", "--vendor", "stripe"], input=f"{STRIPE_KEY}\n\n"
    )
    old = app.config["CREDENTIALS_KEY"]
    new = runner.invoke(args=["connections", "new-key"]).output.strip()
    app.config["CREDENTIALS_KEY"] = f"{new},{old}"
    assert runner.invoke(args=["connections", "rotate-key"]).exit_code == 0
    app.config["CREDENTIALS_KEY"] = new  # the old key removed
    connection = operations.named(session, "billing")
    session.refresh(connection)
    from connectors.connections import vault

    assert vault.unseal(connection.credentials) == {"api_key": STRIPE_KEY}
    assert connection.base_url == "https://api.stripe.com"  # the vendor's, by default


def test_beat_sends_the_due_syncs_when_redis_is_configured(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": "redis://h:6379"})
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["connections-due"]["task"] == "connections.sync_due"
