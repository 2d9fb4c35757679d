"""/api/v1/identities and /api/v1/unmatched: list, map (which replays), the grouped queue."""

from sqlalchemy import func, select

from crm.models import Event, Identity, InboxRecord
from tests.factories import event, make_client, ndjson
from tests.helpers import ingest_file


def _statuses(session) -> dict[str, str]:
    return dict(session.execute(select(InboxRecord.natural_key, InboxRecord.status)).all())


def _waiting_for_stripe_like_accounts(runner, tmp_path):
    records = [
        event("i1", "invoice.issued", 0, account="cus_9x", thread="INV-1"),
        event("p1", "payment.received", 2, account="cus_9x", thread="INV-1"),
        event("i2", "invoice.issued", 3, account="cus_other", thread="INV-2"),
    ]
    summary = ingest_file(runner, "billing", ndjson(tmp_path / "b.ndjson", records))
    assert summary["unmatched"] == 3


def test_mapping_an_identity_replays_its_records(client, runner, session, tmp_path):
    acme = make_client("acme", name="Acme Dental")
    _waiting_for_stripe_like_accounts(runner, tmp_path)

    response = client.post(
        "/api/v1/identities", json={"system": "account", "key": "cus_9x", "client": "acme"}
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["identity"] | {"created_at": None} == {
        "system": "account",
        "key": "cus_9x",
        "client": "acme",
        "client_name": "Acme Dental",
        "created_at": None,
    }
    assert body["replay"] | {"runs": None} == {
        "replayed": 2,
        "rejected": 0,
        "skipped": 0,
        "still_waiting": 0,
        "runs": None,
    }
    assert [run["accepted"] for run in body["replay"]["runs"]] == [2]
    assert body["message"] == "2 records replayed onto Acme Dental."

    events = session.scalars(select(Event).order_by(Event.external_id)).all()
    assert [(e.external_id, e.client_id) for e in events] == [("i1", acme.id), ("p1", acme.id)]
    assert _statuses(session) == {
        "billing:i1": "replayed",
        "billing:p1": "replayed",
        "billing:i2": "unmatched",
    }
    queue = client.get("/api/v1/unmatched").json
    assert [group["key"] for group in queue["items"]] == ["cus_other"]

    again = client.post(
        "/api/v1/identities", json={"system": "account", "key": "cus_9x", "client": "acme"}
    )
    assert again.status_code == 200 and again.json["replay"]["replayed"] == 0
    assert "no records were waiting" in again.json["message"]


def test_an_identity_owned_by_another_client_is_409_and_changes_nothing(
    client, runner, session, tmp_path
):
    make_client("acme")
    beta = make_client("beta")
    _waiting_for_stripe_like_accounts(runner, tmp_path)
    session.add(Identity(system="account", external_key="cus_9x", client=beta))
    session.commit()

    response = client.post(
        "/api/v1/identities", json={"system": "account", "key": "cus_9x", "client": "acme"}
    )
    assert response.status_code == 409
    assert response.json["message"] == "identity account cus_9x already belongs to beta"
    assert response.json["field"] == "key"
    assert session.scalar(select(func.count()).select_from(Event)) == 0
    assert set(_statuses(session).values()) == {"unmatched"}
    assert session.scalar(select(func.count()).select_from(Identity)) == 1


def test_mapping_to_an_unknown_client_or_without_a_key_is_refused(client):
    unknown = client.post(
        "/api/v1/identities", json={"system": "account", "key": "A", "client": "nobody"}
    )
    assert unknown.status_code == 404
    assert unknown.json == unknown.json | {
        "field": "client",
        "message": "client: no client with slug 'nobody'",
    }
    missing = client.post("/api/v1/identities", json={"system": "account", "client": "x"})
    assert missing.status_code == 422 and missing.json["field"] == "key"
    too_long = client.post(
        "/api/v1/identities", json={"system": "account", "key": "k" * 201, "client": "x"}
    )
    assert too_long.status_code == 422 and too_long.json["field"] == "key"


def test_identities_are_listed_with_filters(client):
    make_client("acme", identities=[("stripe", "cus_1"), ("domain", "acme.example")])
    make_client("beta", identities=[("stripe", "cus_2")])
    everything = client.get("/api/v1/identities").json
    assert [(i["system"], i["key"], i["client"]) for i in everything["items"]] == [
        ("domain", "acme.example", "acme"),
        ("stripe", "cus_1", "acme"),
        ("stripe", "cus_2", "beta"),
    ]
    stripe = client.get("/api/v1/identities?system=stripe&client=beta").json
    assert [i["key"] for i in stripe["items"]] == ["cus_2"]
    assert stripe["total"] == 1
    unknown = client.get("/api/v1/identities?client=nobody")
    assert unknown.status_code == 404 and unknown.json["field"] == "client"


def test_the_unmatched_queue_groups_by_hint_with_suggestions(client, runner, tmp_path):
    make_client("acme", name="Acme Dental", emails=["ana@acme-dental.example"])
    records = [
        event("m1", "email.opened", 0, email="bob@acme-dental.example"),
        event("m2", "email.clicked", 1, email="eve@acme-dental.example"),
    ]
    ingest_file(runner, "marketing", ndjson(tmp_path / "m.ndjson", records))
    queue = client.get("/api/v1/unmatched").json
    assert queue["waiting"] == 2
    domain = queue["items"][0]
    assert (domain["label"], domain["records"], domain["connectors"]) == (
        "email domain acme-dental.example",
        2,
        ["marketing"],
    )
    assert domain["suggestions"][0]["client"] == "acme"
    assert domain["suggestions"][0]["reasons"][0].startswith("same email domain")
    assert domain["sample"]["record"]["id"] == "m2"
    assert domain["first_seen"].endswith("+00:00")
    emails = client.get("/api/v1/unmatched?system=email").json
    assert sorted(group["key"] for group in emails["items"]) == [
        "bob@acme-dental.example",
        "eve@acme-dental.example",
    ]
