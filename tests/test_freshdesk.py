"""The freshdesk and freshservice connectors: python-freshdesk's recorded
tickets, company and contact (the API's v2 shape and its older v1 one), and
pages and webhook bodies built to Freshdesk's documented shapes."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from crm.models import Entity, Event
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
PAGE = VENDORS / "freshdesk_tickets_page_documented_shape.json"
COMPANIES = VENDORS / "freshdesk_companies_documented_shape.json"
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def ingest(runner, connector: str, path) -> dict:
    summary = ingest_file(runner, connector, path)
    return {key: summary[key] for key in COUNTS}


def states(session) -> dict[str, tuple]:
    return {
        e.key: (e.status, e.opened_at, e.closed_at, e.priority, e.category)
        for e in session.scalars(select(Entity).where(Entity.type == "ticket"))
    }


def test_a_company_places_its_tickets_and_each_keeps_its_state(runner, session):
    """Tickets wait for their company; the company (known by its name)
    registers its id, and they go in, each opened at `created_at` and
    closed at `stats.resolved_at`, not at its last update."""
    harbor = make_client("harbor-dental", identities=[("freshdesk-company", "Harbor Dental")])
    assert ingest(runner, "freshdesk", PAGE)["unmatched"] == 4
    assert ingest(runner, "freshdesk", COMPANIES)["accepted"] == 1
    assert states(session) == {
        "101": ("open", at("2025-06-02T08:14:00Z"), None, "medium", "Incident"),
        "102": ("pending", at("2025-05-20T09:00:00Z"), None, "low", "Service Request"),
        "103": (
            "resolved",
            at("2025-05-01T07:45:00Z"),
            at("2025-05-05T15:20:00Z"),
            "high",
            "Problem",
        ),
        "104": (
            "resolved",
            at("2025-04-10T10:00:00Z"),
            at("2025-04-11T09:00:00Z"),
            "urgent",
            "Service Request",
        ),
    }
    assert {e.client_id for e in session.scalars(select(Entity))} == {harbor.id}
    implied = session.scalars(select(Event).where(Event.external_id == "103@2025-05-05T15:20:00Z"))
    assert implied.one().attributes["implied_by"] == "103@2025-05-06T16:00:00Z"


def test_reingesting_adds_nothing(runner, session):
    make_client("harbor-dental", identities=[("freshdesk", "7001")])
    first = ingest(runner, "freshdesk", PAGE)
    assert first == {"accepted": 4, "duplicate": 0, "skipped": 0, "rejected": 0, "unmatched": 0}
    before, events = (
        entity_states(session),
        session.scalar(select(Event.id).order_by(Event.id.desc())),
    )
    again = ingest(runner, "freshdesk", PAGE)
    assert again == {"accepted": 0, "duplicate": 4, "skipped": 0, "rejected": 0, "unmatched": 0}
    assert entity_states(session) == before
    assert session.scalar(select(Event.id).order_by(Event.id.desc())) == events


def test_the_v2_ticket_finds_its_client_by_the_requesters_email(runner, session):
    """python-freshdesk's ticket_1: no company, the requester side-loaded."""
    make_client("dummy-co", emails=["dummyname@example.com"])
    path = VENDORS / "freshdesk_python_freshdesk_ticket_1.json"
    assert ingest(runner, "freshdesk", path)["accepted"] == 1
    assert states(session) == {"1": ("open", at("2016-05-18T04:36:04Z"), None, "low", "Question")}
    kinds = session.scalars(select(Event.kind).order_by(Event.occurred_at)).all()
    assert kinds == ["ticket.opened", "ticket.updated"]


def test_the_v1_ticket_waits_for_its_requester_then_goes_in(runner, session):
    """The API's older shape (ticket_type, status_name, +10:00 times) names
    only its requester: mapping the requester's id places it."""
    path = VENDORS / "freshdesk_python_freshdesk_all_tickets_v1.json"
    assert ingest(runner, "freshdesk", path)["unmatched"] == 1
    make_client("rachel-co", identities=[("freshdesk-contact", "5004272351")])
    assert ingest(runner, "freshdesk", path)["accepted"] == 1
    assert states(session) == {"1": ("open", at("2014-12-31T02:27:09Z"), None, "low", "Question")}


def test_a_contact_ties_a_requester_to_its_client(runner, session):
    make_client("freshdesk-inc", emails=["rachel@freshdesk.com"])
    contact = VENDORS / "freshdesk_python_freshdesk_contact.json"
    assert ingest(runner, "freshdesk", contact)["accepted"] == 1
    company = VENDORS / "freshdesk_python_freshdesk_company.json"
    assert ingest(runner, "freshdesk", company)["unmatched"] == 1  # no client names Super Nova


def test_a_webhook_body_moves_a_ticket_on_and_its_opening_is_a_duplicate(
    app, client, runner, session
):
    """The simple mode's `freshdesk_webhook` body names the company by name,
    which the company record registered; its status is a name."""
    make_client("harbor-dental", identities=[("domain", "harbordental.example")])
    ingest(runner, "freshdesk", COMPANIES)
    ingest(runner, "freshdesk", PAGE)
    app.config["WEBHOOK_SECRETS"] = {"freshdesk": "fd-user:fd-pass"}
    body = (VENDORS / "freshdesk_webhook_simple_documented_shape.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    assert client.post("/webhooks/freshdesk", data=body, headers=headers).status_code == 401
    headers["Authorization"] = "Basic " + base64.b64encode(b"fd-user:fd-pass").decode()
    response = client.post("/webhooks/freshdesk", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["accepted"], response.json["duplicate"]) == (1, 0)
    assert states(session)["101"][:3] == (
        "resolved", at("2025-06-02T08:14:00Z"), at("2025-06-02T15:02:00Z")
    )  # fmt: skip
    opening = session.scalars(select(Event).where(Event.external_id == "101@2025-06-02T08:14:00Z"))
    assert opening.one().kind == "ticket.opened"  # one opening, from the REST page


def test_a_webhook_body_of_rest_fields(runner, session, tmp_path):
    make_client("harbor-dental", identities=[("freshdesk", "7001")])
    path = VENDORS / "freshdesk_webhook_ticket_documented_shape.json"
    assert ingest(runner, "freshdesk", path)["accepted"] == 1
    assert states(session)["101"][:2] == ("pending", at("2025-06-02T08:14:00Z"))
    unmapped = {"ticket": {"id": 9, "status": 12, "created_at": "2025-06-01T00:00:00Z"}}
    (tmp_path / "custom.json").write_text(json.dumps(unmapped))
    assert ingest(runner, "freshdesk", tmp_path / "custom.json")["skipped"] == 1


def test_freshservice_tickets_go_by_department(runner, session):
    make_client("northwind", identities=[("freshservice", "4400")])
    path = VENDORS / "freshservice_tickets_documented_shape.json"
    assert ingest(runner, "freshservice", path)["accepted"] == 2
    assert states(session) == {
        "31": ("open", at("2025-06-05T07:00:00Z"), None, "medium", "Incident"),
        "32": (
            "resolved",
            at("2025-05-12T08:00:00Z"),
            at("2025-05-15T17:00:00Z"),
            "low",
            "Service Request",
        ),
    }
    assert {e.origin for e in session.scalars(select(Event))} == {"freshservice"}
