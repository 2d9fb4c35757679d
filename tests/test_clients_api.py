"""/api/v1/clients: list with the directory's filters, create, read, update;
errors are JSON naming the field, and a refused change changes nothing."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Client, Group, Identity
from crm.models.types import utcnow
from crm.signals import identities_mapped
from tests.accounts import make_user
from tests.factories import event, make_client, ndjson
from tests.helpers import ingest_file

NEW = {
    "name": "Bolt Legal",
    "tier": "standard",
    "timezone": "America/New_York",
    "account_manager": "Mark Hughes",
    "customer_since": "2023-05-01",
    "groups": [{"kind": "industry", "name": "Legal"}],
    "contacts": [{"name": "Emily Reed", "email": "Emily@Bolt.example", "role": "Partner"}],
    "identities": [{"system": "stripe", "key": "cus_bolt"}],
}


@pytest.fixture(autouse=True)
def mark(app):
    """The account NEW names as its manager."""
    return make_user("manager", name="Mark Hughes", email="mark@ourmsp.example")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_then_read(client):
    sent = []
    with identities_mapped.connected_to(lambda app, pairs, started_by: sent.extend(pairs)):
        response = client.post("/api/v1/clients", json=NEW)

    assert response.status_code == 201
    assert response.headers["Location"].endswith("/api/v1/clients/bolt-legal")
    body = response.json
    assert body["slug"] == "bolt-legal" and body["url"] == "/clients/bolt-legal"
    assert (body["tier"], body["status"], body["customer_since"]) == (
        "standard",
        "active",
        "2023-05-01",
    )
    assert body["contacts"][0]["email"] == "emily@bolt.example"
    assert isinstance(body["contacts"][0]["id"], int)
    assert body["groups"][0]["kind"] == "industry" and body["groups"][0]["name"] == "Legal"
    assert body["identities"] == [{"system": "stripe", "key": "cus_bolt"}]
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)  # ISO 8601 with its offset
    assert ("stripe", "cus_bolt") in sent

    assert client.get("/api/v1/clients/bolt-legal").json == body


def test_unknown_slug_is_a_json_404(client):
    response = client.get("/api/v1/clients/nobody")
    assert response.status_code == 404
    assert response.json["field"] == "slug"
    assert "nobody" in response.json["message"]
    assert client.patch("/api/v1/clients/nobody", json={"tier": "key"}).status_code == 404


@pytest.mark.parametrize(
    ("changes", "status", "field", "words"),
    [
        ({"tier": "gold"}, 422, "tier", "Must be one of"),
        ({"timezone": "Mars/Olympus"}, 422, "timezone", "not an IANA time zone"),
        ({"name": ""}, 422, "name", "A client needs a name"),
        ({"slug": "Not A Slug"}, 422, "slug", "is not a slug"),
        ({"colour": "red"}, 422, "colour", "Unknown field"),
        (
            {"contacts": [{"name": "X", "email": "not-an-email"}]},
            422,
            "contacts.0.email",
            "Not a valid email",
        ),
        ({"groups": [{"kind": "colour", "name": "red"}]}, 422, "groups.0.kind", "Must be one of"),
        ({"slug": "taken"}, 409, "slug", "taken is already the slug of Taken"),
        (
            {
                "identities": [
                    {"system": "stripe", "key": "cus_new"},
                    {"system": "Stripe", "key": "cus_taken"},
                ]
            },
            409,
            "identities.1",
            "identity stripe cus_taken already belongs to taken",
        ),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(client, changes, status, field, words):
    make_client("taken", name="Taken", identities=[("stripe", "cus_taken")])
    before = (_count(Client), _count(Identity), _count(Group))
    response = client.post("/api/v1/clients", json=NEW | changes)
    assert response.status_code == status, response.json
    assert response.json["field"] == field
    assert words in response.json["message"]
    assert (_count(Client), _count(Identity), _count(Group)) == before


def test_patch_changes_only_what_it_is_given(client):
    client.post("/api/v1/clients", json=NEW)
    emily = client.get("/api/v1/clients/bolt-legal").json["contacts"][0]

    response = client.patch("/api/v1/clients/bolt-legal", json={"tier": "key"})
    assert response.status_code == 200
    assert response.json["tier"] == "key"
    assert response.json["account_manager"] == "Mark Hughes"
    assert response.json["contacts"] == [emily]

    response = client.patch(
        "/api/v1/clients/bolt-legal",
        json={
            "groups": [
                {"kind": "product", "name": "Backup"},
                {"kind": "industry", "name": "Legal"},
            ],
            "contacts": [
                {"id": emily["id"], "name": "Emily Reed", "email": "emily@bolt.example",
                 "role": "Managing partner"},
                {"name": "Sam Foster", "email": "sam@bolt.example"},
            ],
            "account_manager": None,
        },
    )  # fmt: skip
    body = response.json
    assert response.status_code == 200, body
    assert [(g["kind"], g["name"]) for g in body["groups"]] == [
        ("industry", "Legal"),
        ("product", "Backup"),
    ]
    assert body["account_manager"] is None
    by_name = {contact["name"]: contact for contact in body["contacts"]}
    assert by_name["Emily Reed"]["id"] == emily["id"]
    assert by_name["Emily Reed"]["role"] == "Managing partner"
    assert by_name["Sam Foster"]["email"] == "sam@bolt.example"
    assert body["identities"] == [{"system": "stripe", "key": "cus_bolt"}]  # not given, kept


def test_patch_refuses_a_taken_slug_or_identity(client):
    make_client("taken", identities=[("zendesk", "42")])
    client.post("/api/v1/clients", json=NEW)
    response = client.patch("/api/v1/clients/bolt-legal", json={"slug": "taken", "tier": "key"})
    assert (response.status_code, response.json["field"]) == (409, "slug")
    response = client.patch(
        "/api/v1/clients/bolt-legal",
        json={"tier": "key", "identities": [{"system": "zendesk", "key": "42"}]},
    )
    assert (response.status_code, response.json["field"]) == (409, "identities.0")
    after = client.get("/api/v1/clients/bolt-legal").json
    assert after["tier"] == "standard"
    assert after["identities"] == [{"system": "stripe", "key": "cus_bolt"}]


def test_list_filters_sorts_and_pages_like_the_directory(
    app, client, runner, tmp_path, monkeypatch
):
    # EUR 120.50 outranks USD 99.00 once converted (crm.money)
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "EUR=1.10")
    make_client("acme", name="Acme", tier="key")
    make_client("bolt", name="Bolt", tier="key")
    make_client("cedar", name="Cedar", tier="new")
    long_ago = (utcnow() - timedelta(days=90)).isoformat()
    records = [
        event("i1", "invoice.issued", 0, client="bolt", thread="in_1", amount="120.50",
              currency="EUR", due_at=long_ago),
        event("i2", "invoice.issued", 0, client="acme", thread="in_2", amount="99.00",
              currency="USD", due_at=long_ago),
    ]  # fmt: skip
    ingest_file(runner, "billing", ndjson(tmp_path / "billing.ndjson", records))

    body = client.get("/api/v1/clients?tier=key&sort=overdue&per_page=1").json
    assert (body["total"], body["pages"], body["page"], body["per_page"]) == (2, 2, 1, 1)
    (bolt,) = body["items"]
    assert bolt["slug"] == "bolt"
    assert bolt["overdue"] == [{"currency": "EUR", "amount": "120.5000"}]
    assert bolt["flags"] == ["overdue invoice"] and bolt["has_open_flags"] is True
    assert datetime.fromisoformat(bolt["last_touch"]).utcoffset() == timedelta(0)
    second = client.get("/api/v1/clients?tier=key&sort=overdue&per_page=1&page=2").json
    assert [row["slug"] for row in second["items"]] == ["acme"]

    flagged = client.get("/api/v1/clients?flagged=false").json
    assert [row["slug"] for row in flagged["items"]] == ["cedar"]
    several = client.get("/api/v1/clients?tier=new&tier=key&q=CE").json
    assert [row["slug"] for row in several["items"]] == ["cedar"]


def test_list_rejects_bad_filters_by_name(client):
    response = client.get("/api/v1/clients?tier=gold")
    assert (response.status_code, response.json["field"]) == (422, "tier.0")
    response = client.get("/api/v1/clients?group=nonsense")
    assert (response.status_code, response.json["field"]) == (422, "group")
    response = client.get("/api/v1/clients?sort=colour")
    assert (response.status_code, response.json["field"]) == (422, "sort")


def test_the_openapi_document_describes_the_clients_api(client):
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/clients"])
    assert {"get", "patch"} <= set(paths["/api/v1/clients/{slug}"])
    parameters = {p["name"] for p in paths["/api/v1/clients"]["get"]["parameters"]}
    assert {"q", "tier", "group", "account_manager", "flagged", "sort", "page"} <= parameters
