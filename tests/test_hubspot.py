"""The hubspot connector, on objects built to HubSpot's documented CRM v3
shapes (tests/fixtures/vendors/SOURCES.md)."""

import json
import time
from pathlib import Path

from sqlalchemy import select

from connectors.signatures import HUBSPOT_HEADER, HUBSPOT_TIMESTAMP, sign_hubspot
from crm.models import Entity, Event, Identity
from tests.factories import make_client
from tests.helpers import inbox_by_locator, ingest_file

FIXTURE = Path(__file__).parent / "fixtures" / "vendors" / "hubspot_crm_v3_DOCUMENTED_SHAPE.json"


def objects(name: str) -> list[dict]:
    return json.loads(FIXTURE.read_text())[name]


def page(tmp_path, name: str, results: list, after: str | None = None, filename=None) -> Path:
    """A list response as `GET /crm/v3/objects/{name}` answers."""
    document = {"results": results}
    if after:
        document["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
    path = tmp_path / (filename or f"{name}.json")
    path.write_text(json.dumps(document))
    return path


def ingest(runner, path) -> dict:
    return ingest_file(runner, "hubspot", path)


def counts(summary: dict) -> tuple:
    return tuple(summary[n] for n in ("accepted", "duplicate", "skipped", "rejected", "unmatched"))


def test_a_company_known_by_its_domain_registers_its_hubspot_id(runner, session, tmp_path):
    acme = make_client("acme", identities=[("domain", "acme.example")])
    globex = make_client("globex", identities=[("hubspot", "5102331002")])
    summary = ingest(runner, page(tmp_path, "companies", objects("companies")))
    assert summary["accepted"] == 2
    pairs = set(session.execute(select(Identity.client_id, Identity.system, Identity.external_key)))
    assert (acme.id, "hubspot", "5102331001") in pairs
    # "www." is no part of the domain a client's addresses carry.
    assert (globex.id, "domain", "globex.example") in pairs


def test_deal_threads_open_and_close_at_their_own_dates(runner, session, tmp_path):
    make_client("acme", identities=[("hubspot", "5102331001")])
    make_client("globex", identities=[("hubspot", "5102331002")])
    summary = ingest(runner, page(tmp_path, "deals", objects("deals")))
    assert summary["rejected"] == 0 and summary["unmatched"] == 0
    events = {
        (e.thread_key, e.kind): e
        for e in session.scalars(select(Event).where(Event.origin == "hubspot"))
    }
    won = events[("9400001", "deal.won")]
    assert won.occurred_at.isoformat() == "2024-04-30T00:00:00+00:00"
    assert (won.amount, won.currency) == (12500, "EUR")
    opened = events[("9400001", "quote.sent")]
    assert opened.occurred_at.isoformat() == "2024-01-15T14:02:11.403000+00:00"
    assert opened.external_id == "9400001:created"
    assert events[("9400003", "deal.lost")].occurred_at.isoformat().startswith("2024-02-20")
    states = {
        e.key: (e.status, e.closed_at and e.closed_at.date().isoformat())
        for e in session.scalars(select(Entity).where(Entity.type == "deal"))
    }
    assert states == {
        "9400001": ("won", "2024-04-30"),
        "9400002": ("appointmentscheduled", None),
        "9400003": ("lost", "2024-02-20"),
    }


def test_engagements_are_placed_by_their_associated_company(runner, session, tmp_path):
    acme = make_client("acme", identities=[("hubspot", "5102331001")])
    globex = make_client("globex", identities=[("hubspot", "5102331002")])
    for name in ("emails", "calls", "meetings", "notes"):
        assert ingest(runner, page(tmp_path, name, objects(name)))["accepted"] == 1
    placed = {
        (e.kind, e.client_id, e.occurred_at.isoformat(), e.attributes["engagement"])
        for e in session.scalars(select(Event).where(Event.origin == "hubspot"))
    }
    assert placed == {
        ("note", acme.id, "2024-04-02T09:00:00+00:00", "email"),
        ("call", globex.id, "2024-03-05T15:00:00+00:00", "call"),
        ("meeting", acme.id, "2024-04-18T10:00:00+00:00", "meeting"),
        ("note", acme.id, "2024-04-21T07:55:00+00:00", "note"),
    }


def test_a_result_without_a_file_name_is_known_by_its_properties(runner, session, tmp_path):
    make_client("acme", identities=[("hubspot", "5102331001")])
    path = page(tmp_path, "x", objects("calls") + objects("notes"), filename="export.json")
    summary = ingest(runner, path)
    assert summary["rejected"] == 0
    kinds = sorted(session.scalars(select(Event.kind).where(Event.origin == "hubspot")))
    assert kinds == ["note"]  # the call's company (Globex) is not a client yet
    assert summary["unmatched"] == 1


def test_reingesting_pages_adds_nothing(runner, session, tmp_path):
    make_client("acme", identities=[("hubspot", "5102331001")])
    make_client("globex", identities=[("hubspot", "5102331002")])
    path = page(tmp_path, "deals", objects("deals"))
    first = ingest(runner, path)
    before = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    again = ingest(runner, path)
    assert first["accepted"] == 3
    assert counts(again) == (0, 3, 0, 0, 0)
    assert session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) == before


def test_bad_records_are_rejected_naming_the_record_and_the_field(runner, session, tmp_path):
    make_client("acme", identities=[("hubspot", "5102331001")])
    won, _, _ = objects("deals")
    note = objects("notes")[0]
    bad = [
        won | {"properties": won["properties"] | {"deal_currency_code": ""}},
        won | {"id": "9400009", "associations": {}},
        note | {"properties": {"hs_note_body": "no time"}},
        {"properties": {"dealstage": "closedwon"}},
        "not an object",
        {"id": 5, "properties": {"favourite_colour": "blue"}},
        {"id": 6, "properties": {"hs_note_body": ["x"], "hs_timestamp": {"a": 1}}},
    ]
    summary = ingest(runner, page(tmp_path, "x", bad, filename="export.json"))
    assert summary["rejected"] == 7
    inbox = inbox_by_locator(session)
    assert "properties.deal_currency_code" in inbox["results[0]"].reason
    assert "associations.companies" in inbox["results[1]"].reason
    assert "properties.hs_timestamp" in inbox["results[2]"].reason
    assert "id" in inbox["results[3]"].reason
    assert inbox["results[4]"].reason == "is not a JSON object"
    assert inbox["results[5]"].reason.startswith("objectType is not known: name the file")
    assert inbox["results[6]"].reason == "properties.hs_timestamp {'a': 1} is not a time"


def test_webhook_events_are_kept_as_skipped_saying_why(runner, session, tmp_path):
    path = tmp_path / "webhook.json"
    path.write_text(json.dumps(objects("webhook")))
    summary = ingest(runner, path)
    assert summary["skipped"] == 2
    reasons = [row.reason for row in inbox_by_locator(session).values()]
    assert any(
        "deal.propertyChange of object 9400001 (dealstage = 'closedwon')" in r for r in reasons
    )


def test_hubspot_posts_its_signed_webhook_directly(app, client, session):
    """HubSpot's v3 signature over method, URL, body and timestamp; the
    events are kept as needing a fetch, and a wrong signature stores nothing."""
    app.config["WEBHOOK_SECRETS"] = {"hubspot": "client-secret"}
    body = json.dumps(objects("webhook")).encode()
    url = "http://localhost/webhooks/hubspot"
    at = str(int(time.time() * 1000))
    signed = {HUBSPOT_TIMESTAMP: at, "Content-Type": "application/json"}
    wrong = client.post(url, data=body, headers=signed | {HUBSPOT_HEADER: "bm90IGl0"})
    assert wrong.status_code == 401
    assert inbox_by_locator(session) == {}
    signature = sign_hubspot("client-secret", "POST", url, body, at)
    response = client.post(url, data=body, headers=signed | {HUBSPOT_HEADER: signature})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["skipped"] == 2


def test_marketing_email_events_are_campaign_events_of_the_recipients_client(
    runner, session, tmp_path
):
    acme = make_client("acme", identities=[("domain", "acme.example")])
    path = tmp_path / "email_events.json"
    path.write_text(json.dumps(json.loads(FIXTURE.read_text())["email_events"]))
    summary = ingest(runner, path)
    assert (summary["accepted"], summary["skipped"]) == (4, 1)
    assert "'PROCESSED' is not mapped" in inbox_by_locator(session)["events[4]"].reason
    placed = session.execute(
        select(Event.kind, Event.client_id, Event.thread_key).order_by(Event.occurred_at)
    ).all()
    assert placed == [
        ("email.delivered", acme.id, "hubspot-campaign:2001"),
        ("email.bounced", acme.id, "hubspot-campaign:2001"),
        ("email.opened", acme.id, "hubspot-campaign:2001"),
        ("email.clicked", acme.id, "hubspot-campaign:2001"),
    ]
    assert counts(ingest(runner, path))[:2] == (0, 4)
