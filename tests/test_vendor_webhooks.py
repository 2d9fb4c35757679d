"""Each vendor sample goes in the same through a webhook as through `flask ingest`."""

import json
import time
from pathlib import Path

import pytest

from connectors.signatures import HMAC_HEADER, STRIPE_HEADER, sign_hmac, sign_stripe
from tests.factories import make_client

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
    ("alertmanager", "grafana_alerting_webhook_firing.json"),
    ("sendgrid", "sendgrid_event_webhook_all_event_types.json"),
    ("sendgrid", "sendgrid_event_webhook_bounce_with_type.json"),
    ("salesforce", "salesforce_opportunities_sfdx_tree.json"),
    ("salesforce", "salesforce_opportunities_dataloader.csv"),
]


def signature_headers(connector: str, body: bytes) -> dict:
    if connector == "stripe":
        return {STRIPE_HEADER: sign_stripe(SECRET, body, int(time.time()))}
    return {HMAC_HEADER: sign_hmac(SECRET, body)}


def content_type(sample: str) -> str:
    return {".json": "application/json", ".csv": "text/csv"}[Path(sample).suffix]


@pytest.mark.parametrize(("connector", "sample"), SAMPLES)
def test_a_sample_through_the_webhook_matches_the_cli(app, client, runner, connector, sample):
    make_client("acme")
    app.config["WEBHOOK_SECRETS"] = {connector: SECRET}
    body = (VENDORS / sample).read_bytes()
    response = client.post(
        f"/webhooks/{connector}",
        data=body,
        headers=signature_headers(connector, body) | {"Content-Type": content_type(sample)},
    )
    assert response.status_code == 200, response.json
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
