"""POST /webhooks/<sender>: each vendor posts directly, proven its own way
(connectors.senders); X-Touchline-Signature opens only the generic formats."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.signatures import HMAC_HEADER, sign_hmac
from crm.models import Entity, Event, IngestRun, RawPayload
from tests.factories import make_client
from tests.signing import SALESFORCE_ORG, headers_for, secret_for

VENDORS = Path(__file__).parent / "fixtures/vendors"
SECRET = "sender-secret"
OUTBOUND = (VENDORS / "salesforce_outbound_message_opportunity.xml").read_bytes()


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def send(client, connector: str, body: bytes, content_type="application/json", headers=None):
    headers = (
        headers_for(connector, secret_for(connector, SECRET), body) if headers is None else headers
    )
    return client.post(
        f"/webhooks/{connector}", data=body, headers=headers | {"Content-Type": content_type}
    )


@pytest.mark.parametrize(
    "connector", ["stripe", "zendesk", "sendgrid", "grafana", "alertmanager", "salesforce_outbound"]
)
def test_a_vendor_connector_does_not_take_the_touchline_signature(app, client, session, connector):
    app.config["WEBHOOK_SECRETS"] = {connector: SECRET}
    body = b"[]"
    response = send(client, connector, body, headers={HMAC_HEADER: sign_hmac(SECRET, body)})
    assert response.status_code == 401, response.get_data(as_text=True)
    assert count(session, RawPayload) == 0


def test_a_sender_without_a_secret_is_told_which_setting_and_what_it_holds(client):
    response = send(client, "sendgrid", b"[]")
    assert response.status_code == 401
    assert response.json["error"] == (
        "webhooks for sendgrid are off: set TOUCHLINE_WEBHOOK_SECRET_SENDGRID to "
        "the Event Webhook's verification public key"
    )


def test_grafana_posts_to_its_own_endpoint(app, client, session):
    """Grafana's sample, with the client in label `team`: its alerts are
    Grafana's events, placed through the Alertmanager label identities."""
    app.config["WEBHOOK_SECRETS"] = {"grafana": SECRET}
    app.config["TOUCHLINE_ALERTMANAGER_CLIENT_LABEL"] = "team"
    blue = make_client("blue", identities=[("alertmanager", "blue")])
    body = (VENDORS / "grafana_alerting_webhook_firing.json").read_bytes()
    response = send(client, "grafana", body)
    assert response.status_code == 200, response.json
    assert (response.json["accepted"], response.json["unmatched"]) == (2, 0)
    events = session.execute(select(Event.origin, Event.kind, Event.client_id)).all()
    assert events == [("grafana", "alert.raised", blue.id)] * 2
    assert sorted(session.scalars(select(Entity.key))) == [
        "bc97ff14869b13e3@2021-10-12T07:56:03.157076Z",
        "c6eadffa33fcdf37@2021-10-12T07:51:03.157076Z",
    ]


def test_a_grafana_body_signed_for_another_secret_is_refused(app, client, session):
    app.config["WEBHOOK_SECRETS"] = {"grafana": SECRET}
    body = (VENDORS / "grafana_alerting_webhook_firing.json").read_bytes()
    response = send(client, "grafana", body, headers=headers_for("grafana", "other", body))
    assert response.status_code == 401 and "does not match" in response.json["error"]
    assert count(session, RawPayload) == 0


# Built to the documented shape of Zendesk's ticket event webhooks
# (developer.zendesk.com, "Ticket events": zen:event-type:ticket.status_changed).
ZENDESK_EVENT = {
    "account_id": 12514403,
    "detail": {
        "actor_id": "8447388090494",
        "assignee_id": "8447388090494",
        "brand_id": "8447346621310",
        "created_at": "2026-03-01T08:00:00Z",
        "custom_status": "8447388093566",
        "description": "Printer offline",
        "external_id": None,
        "form_id": "8646151517822",
        "group_id": "8447320466430",
        "id": "35436",
        "is_public": True,
        "organization_id": "20012227",
        "priority": "HIGH",
        "requester_id": "8447388090494",
        "status": "OPEN",
        "subject": "Printer offline",
        "submitter_id": "8447388090494",
        "tags": ["printer"],
        "type": "INCIDENT",
        "updated_at": "2026-03-02T09:00:00Z",
        "via": {"channel": "web_service"},
    },
    "event": {"current": "OPEN", "previous": "NEW"},
    "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",
    "subject": "zen:ticket:35436",
    "time": "2026-03-02T09:00:00.672717030Z",
    "type": "zen:event-type:ticket.status_changed",
    "zendesk_event_version": "2022-11-06",
}
# A trigger's body as an admin writes it with placeholders ({{ticket.id}}...).
ZENDESK_TRIGGER = {
    "ticket": {
        "id": "35436",
        "status": "Solved",
        "created_at": "2026-03-01T08:00:00Z",
        "updated_at": "2026-03-04T16:20:00Z",
        "subject": "Printer offline",
        "organization_id": "20012227",
        "requester_id": "8447388090494",
        "priority": "High",
        "url": "acme.zendesk.com/agent/tickets/35436",
    }
}


def test_zendesk_event_and_trigger_webhooks_both_ingest(app, client, session):
    app.config["WEBHOOK_SECRETS"] = {"zendesk": SECRET}
    acme = make_client("acme", identities=[("zendesk", "20012227")])
    for body in (ZENDESK_EVENT, ZENDESK_TRIGGER):
        response = send(client, "zendesk", json.dumps(body).encode())
        assert response.status_code == 200, response.json
        assert response.json["accepted"] == 1
    kinds = session.execute(select(Event.kind, Event.client_id).order_by(Event.occurred_at)).all()
    assert kinds == [
        ("ticket.opened", acme.id),
        ("ticket.updated", acme.id),
        ("ticket.resolved", acme.id),
    ]
    assert session.scalar(select(Entity.status)) == "resolved"


def test_a_salesforce_outbound_message_is_acknowledged_and_read_as_salesforce(app, client, session):
    """The message's opportunity is the `salesforce` connector's: the same
    state exported through the REST API afterwards is a duplicate."""
    app.config["WEBHOOK_SECRETS"] = {"salesforce_outbound": SALESFORCE_ORG}
    acme = make_client("acme", identities=[("salesforce", "0017F000007ydJmQAI")])
    response = send(client, "salesforce_outbound", OUTBOUND, "text/xml; charset=utf-8")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert b"<notificationsResponse" in response.data and b"<Ack>true</Ack>" in response.data
    [(origin, kind, client_id, amount)] = session.execute(
        select(Event.origin, Event.kind, Event.client_id, Event.amount)
    ).all()
    assert (origin, kind, client_id, float(amount)) == ("salesforce", "quote.sent", acme.id, 120000)

    exported = {
        "records": [
            {
                "attributes": {"type": "Opportunity"},
                "Id": "0067F000003pmdWQAQ",
                "AccountId": "0017F000007ydJmQAI",
                "Amount": 120000.0,
                "CloseDate": "2017-04-03",
                "LeadSource": "Phone Inquiry",
                "Name": "Express Logistics SLA",
                "StageName": "Perception Analysis",
            }
        ]
    }
    app.config["WEBHOOK_SECRETS"]["salesforce"] = SECRET
    again = send(client, "salesforce", json.dumps(exported).encode())
    assert again.status_code == 200, again.json
    assert (again.json["accepted"], again.json["duplicate"]) == (0, 1)


def test_a_salesforce_message_from_another_org_is_refused_without_an_ack(app, client, session):
    app.config["WEBHOOK_SECRETS"] = {"salesforce_outbound": "00D000000000001AAA"}
    response = send(client, "salesforce_outbound", OUTBOUND, "text/xml")
    assert response.status_code == 401
    assert "not the configured org" in response.json["error"]
    assert count(session, RawPayload) == 0


def test_a_salesforce_notification_without_its_object_is_rejected_and_acknowledged(
    app, client, session
):
    """A notification with no sObject: the body is kept and the run rejects
    that record, naming it; the message is acknowledged, as a file with a
    bad record is finished (Salesforce's retries would bring the same)."""
    app.config["WEBHOOK_SECRETS"] = {"salesforce_outbound": SALESFORCE_ORG}
    start = OUTBOUND.index(b"<sObject")
    end = OUTBOUND.index(b"</sObject>") + len(b"</sObject>")
    body = OUTBOUND[:start] + OUTBOUND[end:]
    response = send(client, "salesforce_outbound", body, "text/xml")
    assert response.status_code == 200 and b"<Ack>true</Ack>" in response.data
    run = session.scalars(select(IngestRun)).one()
    assert (run.summary()["rejected"], run.summary()["total"]) == (1, 1)
    assert count(session, RawPayload) == 1
