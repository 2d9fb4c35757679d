"""A realistic key client touched by all five kinds of system: its briefing
flags everything it must, and the card and directory show the same.

Every record is a vendor's own, shifted to dates around the meeting (each
change is named where it is made), and each goes in the way it reaches an
MSP: a Zendesk ticket list exported weeks after the fact, Stripe webhooks
where the dispute arrives before the charge it names and the charge before
its customer is mapped, Alertmanager deliveries of which three occurrences
arrive only resolved, and a Salesforce REST export.
"""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crm.clients.directory import DirectoryFilters, client_directory
from crm.models import Client
from crm.timeline.hours import BusinessHours
from crm.timeline.precontact import precontact_card
from reports.briefing.build import build_briefing
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures/vendors"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the morning of the roadmap meeting
ORGANIZATION = 20012227  # Zendesk's recorded organization
CUSTOMER = "cus_QXg1o8vcGmoR32"  # the customer of Stripe's fixture invoice
ACCOUNT = "001i000000XSd1FAAT"  # the account of Salesforce's recorded opportunity


def vendor(name: str):
    return copy.deepcopy(json.loads((VENDORS / name).read_text()))


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


def iso(days: float) -> str:
    return at(days).isoformat().replace("+00:00", "Z")


def epoch(days: float) -> int:
    return int(at(days).timestamp())


def write(tmp_path: Path, name: str, document) -> Path:
    path = tmp_path / name
    if name.endswith(".ndjson"):
        path.write_text("".join(json.dumps(item) + "\n" for item in document))
    else:
        path.write_text(json.dumps(document))
    return path


def zendesk_export() -> dict:
    """Two tickets of Zendesk's recorded list, as an export made today
    (times shifted): one opened 45 days ago and still pending, one solved
    five days ago (with the side-loaded metrics that say when)."""
    listed = vendor("zendesk_ticket_list_api_response.json")["tickets"]
    aging, done = [t for t in listed if t["organization_id"] == ORGANIZATION][:2]
    aging |= {
        "status": "pending",
        "created_at": iso(-45),
        "updated_at": iso(-2),
        "subject": "VPN drops every afternoon",
    }
    done |= {
        "status": "solved",
        "created_at": iso(-9),
        "updated_at": iso(-4),
        "subject": "Set up a wireless access point",
    }
    metrics = {"ticket_id": done["id"], "solved_at": iso(-5)}
    return {"tickets": [aging, done], "metric_sets": [metrics], "count": 2}


def stripe_events() -> list[dict]:
    """Stripe's fixture objects as the webhooks a month brought: an invoice
    finalized, its card payment declined, a charge, then a dispute of it."""
    invoice = vendor("stripe_openapi_fixture_invoice.json") | {
        "customer": CUSTOMER,
        "status": "open",
        "amount_due": 480000,
        "amount_remaining": 480000,
        "currency": "usd",
        "due_date": epoch(10),
    }
    declined = vendor("stripe_openapi_fixture_charge.json") | {
        "id": "ch_declined",
        "customer": CUSTOMER,
        "invoice": invoice["id"],
        "status": "failed",
        "amount": 480000,
        "failure_code": "card_declined",
        "created": epoch(-3),
    }
    charge = vendor("stripe_openapi_fixture_charge.json") | {
        "customer": CUSTOMER,
        "amount": 95000,
        "created": epoch(-40),
    }
    dispute = vendor("stripe_openapi_fixture_dispute.json") | {
        "amount": 95000,
        "created": epoch(-6),
    }

    def event(event_id, type_, data_object, days):
        return {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": epoch(days),
            "type": type_,
            "data": {"object": data_object},
        }

    return [
        event("evt_dispute", "charge.dispute.created", dispute, -6),
        event("evt_charge", "charge.succeeded", charge, -40),
        event("evt_invoice", "invoice.finalized", invoice, -20),
        event("evt_declined", "charge.failed", declined, -3),
    ]


def alert_deliveries() -> list[dict]:
    """What the real Alertmanager posted (recorded), for this client's file
    server: a backup check that failed and cleared three times in a month,
    each delivered only resolved (the firing notifications were lost), and a
    disk alert firing now, critical."""
    resolved = vendor("alertmanager_0.25_webhook_resolved_RECORDED.json")
    firing = vendor("alertmanager_0.25_webhook_firing_RECORDED.json")
    labels = {"customer": "harbour", "instance": "fs01.harbour.example:9100", "job": "node"}
    bodies = []
    for started in (-25, -14, -3):
        body = copy.deepcopy(resolved)
        alert = body["alerts"][0]
        alert["labels"] = labels | {"alertname": "BackupFailed", "severity": "warning"}
        alert |= {"startsAt": iso(started), "endsAt": iso(started + 0.2), "fingerprint": ""}
        bodies.append(body)
    alert = firing["alerts"][0]
    alert["labels"] = labels | {"alertname": "DiskFull", "severity": "critical"}
    alert |= {"startsAt": iso(-0.5), "fingerprint": ""}
    bodies.append(firing)
    return bodies


def salesforce_export() -> dict:
    """Salesforce's recorded REST query, its first opportunity as this
    client's managed-services renewal, closing in 60 days."""
    export = vendor("salesforce_rest_query_opportunities.json")
    renewal = export["records"][0]
    renewal["Account"]["attributes"]["url"] = f"/services/data/v29.0/sobjects/Account/{ACCOUNT}"
    renewal |= {
        "Name": "Managed services renewal 2027",
        "Type": "Renewal",
        "StageName": "Negotiation/Review",
        "IsWon": False,
        "IsClosed": False,
        "CloseDate": at(60).date().isoformat(),
        "CreatedDate": at(-30).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "LastModifiedDate": at(-7).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }
    return {"totalSize": 1, "done": True, "records": [renewal]}


def test_a_key_clients_briefing_flags_everything(app, runner, session, tmp_path):
    harbour = make_client(
        "harbour",
        name="Harbour Dental",
        tier="key",
        timezone="Europe/London",
        identities=[
            ("zendesk", str(ORGANIZATION)),
            ("alertmanager", "harbour"),
            ("salesforce", ACCOUNT),
        ],
    )
    ingest_file(runner, "zendesk", write(tmp_path, "tickets.json", zendesk_export()))
    events = stripe_events()
    # The dispute comes first, naming only its charge; the charge comes before
    # anyone has said whose customer it is: both wait.
    first = ingest_file(runner, "stripe", write(tmp_path, "dispute.ndjson", events[:2]))
    assert first["unmatched"] == 2
    result = runner.invoke(args=["identities", "map", "stripe", CUSTOMER, "harbour"])
    assert result.exit_code == 0, result.output
    ingest_file(runner, "stripe", write(tmp_path, "invoice.ndjson", events[2:]))
    for number, body in enumerate(alert_deliveries()):
        ingest_file(runner, "alertmanager", write(tmp_path, f"alert{number}.json", body))
    ingest_file(runner, "salesforce", write(tmp_path, "opportunities.json", salesforce_export()))

    harbour = session.get(Client, harbour.id)
    briefing = build_briefing(session, harbour, NOW.date(), NOW)
    flags = {flag.kind: flag for flag in briefing.flags}
    assert {
        "late_ticket",
        "open_dispute",
        "failed_payment",
        "recurring_alert",
        "critical_alert",
    } <= flags.keys(), sorted(flags)
    assert flags["late_ticket"].title == "VPN drops every afternoon"
    assert flags["late_ticket"].age_days == 45
    assert "3 times" in flags["recurring_alert"].detail
    assert "Managed services renewal 2027" in " ".join(
        point.text for point in briefing.talking_points.renewals_due
    )
    assert any("wireless access point" in point.text for point in briefing.talking_points.work_done)

    card = precontact_card(
        session, harbour, NOW, guidance={}, hours=BusinessHours.parse("Mon-Fri 09:00-17:30")
    )
    assert [item.entity.title for item in card.open_tickets] == ["VPN drops every afternoon"]
    assert len(card.open_disputes) == 1
    assert len(card.failed_payments) + len(card.overdue_invoices) == 1
    assert [item.entity.category for item in card.active_alerts] == ["DiskFull"]
    assert ["Managed services renewal 2027" in item.entity.title for item in card.renewals] == [
        True
    ]
    assert any("wireless access point" in done.text.lower() for done in card.lately)

    [row] = client_directory(session, DirectoryFilters(), now=NOW).rows
    assert {"open dispute", "late ticket", "critical alert", "failed payment"} <= set(row.flags)
