"""The audit log: who viewed or downloaded which client's briefing, mapped
identities, changed tiers and managed accounts; admins read it on a page and
in the API."""

import io
import json

from sqlalchemy import select

from crm.accounts.models import AuditEntry, User
from crm.extensions import db
from crm.models import Client
from tests.accounts import make_user, signed_in_client, token_for, with_token
from tests.factories import event, make_client, ndjson
from tests.helpers import ingest_file


def entries(action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def _summary(entry: AuditEntry) -> tuple:
    return entry.actor_email, entry.action, entry.target_type, entry.target


def test_viewing_and_downloading_a_briefing_are_recorded(app):
    make_client("acme", tier="key")
    executive = make_user("executive", email="ceo@example.com")
    http = signed_in_client(app, executive)

    assert http.get("/clients/acme/briefing?date=2026-11-20").status_code == 200
    pdf = http.get("/clients/acme/briefing.pdf?date=2026-11-20")
    assert pdf.status_code == 200

    viewed, downloaded = entries("briefing.view"), entries("briefing.download")
    assert [_summary(e) for e in viewed + downloaded] == [
        ("ceo@example.com", "briefing.view", "client", "acme"),
        ("ceo@example.com", "briefing.download", "client", "acme"),
    ]
    assert viewed[0].detail == {"format": "html", "meeting": "2026-11-20"}
    assert downloaded[0].detail == {"format": "pdf", "meeting": "2026-11-20"}
    assert viewed[0].actor_id == executive.id and viewed[0].ip == "127.0.0.1"
    assert http.get("/clients/nobody/briefing").status_code == 404
    assert len(entries("briefing.view")) == 1  # nothing shown, nothing recorded


def test_reading_a_briefing_through_the_api_is_recorded(app):
    make_client("acme", tier="key")
    executive = make_user("executive", email="ceo@example.com")
    http = with_token(app.test_client(), token_for(executive))

    response = http.get("/api/v1/clients/acme/briefing?date=2026-11-20")
    assert response.status_code == 200
    assert response.json["client"]["slug"] == "acme"
    [viewed] = entries("briefing.view")
    assert _summary(viewed) == ("ceo@example.com", "briefing.view", "client", "acme")
    assert viewed.detail["format"] == "json" and viewed.detail["meeting"] == "2026-11-20"
    assert http.get("/api/v1/clients/nobody/briefing").status_code == 404
    assert http.get("/api/v1/clients/acme/briefing?date=soon").status_code == 422
    assert len(entries("briefing.view")) == 1  # nothing answered, nothing recorded


def test_a_batch_download_records_each_client_in_it(app):
    make_client("acme", tier="key")
    make_client("zeta", tier="key")
    make_client("other", tier="standard")
    http = signed_in_client(app, make_user("executive", email="ceo@example.com"))

    with http.get("/briefings.pdf?tier=key&date=2026-11-20") as response:  # closes the file
        assert response.status_code == 200

    batch = entries("briefing.batch")
    assert sorted(entry.target for entry in batch) == ["acme", "zeta"]
    assert {entry.detail["format"] for entry in batch} == {"pdf"}


def test_tier_changes_are_recorded_wherever_they_are_made(app, client):
    make_client("acme", tier="standard")
    manager = make_user("manager", email="boss@example.com")
    api = with_token(app.test_client(), token_for(manager))

    assert api.patch("/api/v1/clients/acme", json={"tier": "key"}).status_code == 200
    assert api.patch("/api/v1/clients/acme", json={"notes": "no tier change"}).status_code == 200
    accept = {"slug": "acme", "tier": "problem"}
    accepted = signed_in_client(app, manager).post("/reports/portfolio/tiers", data=accept)
    assert accepted.status_code == 303
    form = {"name": "Acme", "slug": "acme", "tier": "new", "status": "active", "timezone": "UTC"}
    assert client.post("/clients/acme/edit", data=form).status_code == 302

    changes = [(e.actor_email, e.detail) for e in entries("client.tier")]
    token = changes[0][1].pop("token")
    assert token.startswith("tl_")
    assert changes == [
        ("boss@example.com", {"from": "standard", "to": "key", "via": "api"}),
        ("boss@example.com", {"from": "key", "to": "problem", "via": "portfolio report"}),
        ("everyone@touchline.test", {"from": "problem", "to": "new", "via": "page"}),
    ]


def test_identity_changes_are_recorded_from_forms_the_api_and_the_queue(client, runner, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    waiting = event("t-1", "ticket.opened", account="AC-9", title="Printer", thread="T-9")
    ingest_file(runner, "tickets", ndjson(tmp_path / "tickets.ndjson", [waiting]))

    mapped = client.post(
        "/unmatched/map", data={"system": "account", "key": "AC-9", "client": "acme"}
    )
    assert mapped.status_code == 302
    body = {"system": "account", "key": "AC-7", "client": "acme"}
    assert client.post("/api/v1/identities", json=body).status_code == 200
    form = {
        "name": "Acme",
        "slug": "acme",
        "tier": "new",
        "status": "active",
        "timezone": "UTC",
        "identities-0-system": "account",
        "identities-0-key": "AC-9",
        "identities-1-system": "domain",
        "identities-1-key": "acme.example",
    }
    assert client.post("/clients/acme/edit", data=form).status_code == 302

    recorded = [(e.action, e.detail["system"], e.detail["key"], e.detail["via"]) for e in entries()
                if e.action.startswith("identity.")]  # fmt: skip
    assert recorded == [
        ("identity.map", "account", "AC-9", "page"),
        ("identity.map", "account", "AC-7", "api"),
        ("identity.map", "domain", "acme.example", "page"),
        ("identity.unmap", "account", "AC-1", "page"),
        ("identity.unmap", "account", "AC-7", "page"),
    ]
    assert entries("identity.map")[0].detail["replayed"] == 1


def test_creating_a_client_with_identities_is_recorded(client):
    body = {"name": "Beta", "identities": [{"system": "stripe", "key": "cus_1"}]}
    assert client.post("/api/v1/clients", json=body).status_code == 201
    slug = db.session.scalar(select(Client.slug))
    assert [(e.action, e.target) for e in entries() if e.action != "user.sign_in"] == [
        ("client.create", slug),
        ("identity.map", slug),
    ]


def test_replays_uploads_and_portfolio_exports_are_recorded(client, runner, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    record = json.dumps(event("t-1", "ticket.opened", account="AC-1", title="VPN", thread="T-1"))
    upload = {"file": (io.BytesIO(record.encode() + b"\n"), "tickets.ndjson")}
    assert client.post("/api/v1/ingest/tickets", data=upload).status_code == 200
    assert client.get("/reports/portfolio.csv").status_code == 200

    [ingested] = entries("ingest.file")
    assert (ingested.target_type, ingested.target) == ("connector", "tickets")
    assert ingested.detail["file"] == "tickets.ndjson" and ingested.detail["status"] == "finished"
    [export] = entries("portfolio.export")
    assert export.detail["format"] == "csv"


def test_account_management_is_recorded(app, login_as, runner):
    admin = login_as("admin")
    created = admin.post("/admin/users", data={"email": "new@example.com", "roles": "staff"})
    assert created.status_code == 201
    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    admin.post(f"/admin/users/{user.id}/roles", data={"roles": ["staff", "executive"]})
    admin.post(f"/admin/users/{user.id}/password", data={})
    admin.post(f"/admin/users/{user.id}/tokens", data={"name": "export"})
    admin.post(f"/admin/users/{user.id}/active", data={"active": "false"})
    assert runner.invoke(args=["tokens", "revoke", str(user.tokens[0].id)]).exit_code == 0

    recorded = [(e.action, e.target) for e in entries() if not e.action.startswith("user.sign")]
    assert recorded == [
        ("user.create", "new@example.com"),
        ("user.roles", "new@example.com"),
        ("user.password", "new@example.com"),
        ("token.create", "new@example.com"),
        ("user.deactivate", "new@example.com"),
        ("token.revoke", "new@example.com"),
    ]
    assert entries("user.roles")[0].detail == {"from": ["staff"], "to": ["staff", "executive"]}
    assert entries("token.revoke")[0].actor_email == "command line"
    # Whichever door made the change (page or command line), the entry says the same.
    assert entries("user.create")[0].detail == {"roles": ["staff"]}
    token = user.tokens[0]
    named = {"token_id": token.id, "name": "export", "prefix": token.prefix}
    assert entries("token.create")[0].detail == named
    assert entries("token.revoke")[0].detail == named


def test_the_audit_log_survives_the_account_that_wrote_it(app):
    make_client("acme")
    user = make_user("executive", email="gone@example.com")
    signed_in_client(app, user).get("/clients/acme/briefing")
    db.session.delete(user)
    db.session.commit()
    [entry] = entries("briefing.view")
    assert (entry.actor_id, entry.actor_email) == (user.id, "gone@example.com")


def test_admins_read_and_filter_the_log_on_a_page_and_in_the_api(app, login_as):
    make_client("acme")
    make_client("beta")
    reader = signed_in_client(app, make_user("executive", email="reader@example.com"))
    for slug in ("acme", "beta", "acme"):
        reader.get(f"/clients/{slug}/briefing")
    admin = login_as("admin", token=True)

    page = admin.get("/admin/audit?client=acme").get_data(as_text=True)
    assert page.count("reader@example.com") == 2 and "beta" not in page.split("<tbody>")[1]
    assert admin.get("/admin/audit?page=0").status_code == 400

    body = admin.get("/api/v1/audit", query_string={"client": "acme"}).json
    assert body["total"] == 2 and {item["target"] for item in body["items"]} == {"acme"}
    family = admin.get("/api/v1/audit", query_string={"action": "briefing"}).json
    assert family["total"] == 3
    by_actor = admin.get("/api/v1/audit", query_string={"actor": "READER@", "per_page": 2}).json
    assert (by_actor["total"], by_actor["pages"], len(by_actor["items"])) == (4, 2, 2)
    newest = by_actor["items"][0]
    assert newest["action"] == "briefing.view" and newest["at"].endswith("+00:00")
    second = admin.get("/api/v1/audit", query_string={"actor": "reader", "per_page": 2, "page": 2})
    assert second.json["items"][-1]["action"] == "user.sign_in"
