"""Each vendor sample goes in the same through a webhook as through `flask ingest`."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from crm.models import IngestRun
from tests.factories import make_client
from tests.signing import headers_for, secret_for

VENDORS = Path(__file__).parent / "fixtures/vendors"
SECRET = "whsec_vendor_test"

SAMPLES = [
    ("stripe", "stripe_openapi_fixture_event.json"),
    ("stripe", "stripe_openapi_fixture_invoice.json"),
    ("stripe", "stripe_openapi_fixture_charge.json"),
    ("stripe", "stripe_openapi_fixture_dispute.json"),
    ("zendesk", "zendesk_ticket_show_api_response.json"),
    ("zendesk", "zendesk_ticket_create_api_response.json"),
    ("zendesk", "zendesk_organization_create_api_response.json"),
    ("grafana", "grafana_alerting_webhook_firing.json"),
    ("alertmanager", "alertmanager_0.25_webhook_firing_RECORDED.json"),
    ("sendgrid", "sendgrid_event_webhook_all_event_types.json"),
    ("sendgrid", "sendgrid_event_webhook_bounce_with_type.json"),
    ("salesforce", "salesforce_opportunities_sfdx_tree.json"),
    ("salesforce", "salesforce_opportunities_dataloader.csv"),
    ("salesforce_outbound", "salesforce_outbound_message_opportunity.xml"),
    ("connectwise", "connectwise_callback_ticket_DOCUMENTED_SHAPE.json"),
    ("connectwise", "connectwise_djconnectwise_ticket_notes.json"),
    ("ninjaone", "ninjaone_webhook_condition_triggered_RECORDED.json"),
]


def content_type(sample: str) -> str:
    suffix = Path(sample).suffix
    return {".json": "application/json", ".csv": "text/csv", ".xml": "text/xml"}[suffix]


@pytest.mark.parametrize(("connector", "sample"), SAMPLES)
def test_a_sample_through_the_webhook_matches_the_cli(
    app, client, runner, session, connector, sample
):
    make_client("acme")
    secret = secret_for(connector, SECRET)
    app.config["WEBHOOK_SECRETS"] = {connector: secret}
    body = (VENDORS / sample).read_bytes()
    response = client.post(
        f"/webhooks/{connector}",
        data=body,
        headers=headers_for(connector, secret, body) | {"Content-Type": content_type(sample)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    if connector == "salesforce_outbound":  # its answer is Salesforce's acknowledgement
        assert b"<Ack>true</Ack>" in response.data
        hooked = session.scalars(select(IngestRun)).one().summary()
    else:
        hooked = response.json
    assert hooked["status"] == "finished" and hooked["total"] > 0

    result = runner.invoke(args=["ingest", connector, str(VENDORS / sample), "--json"])
    again = json.loads(result.output)
    assert again["total"] == hooked["total"]
    assert again["accepted"] == 0
    # What the webhook accepted is now on the timeline, and what it left
    # unmatched is already waiting: both come back as duplicates.
    assert again["duplicate"] == hooked["accepted"] + hooked["duplicate"] + hooked["unmatched"]
    assert again["unmatched"] == 0
    assert (again["skipped"], again["rejected"]) == (hooked["skipped"], hooked["rejected"])
