"""Xero's and Intuit's webhook signatures, Xero's intent-to-receive handshake."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.signatures import Delivery, SignatureError, sign_base64_hmac, verify_intuit
from crm.models import InboxRecord, RawPayload

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
XERO_KEY = "xero-webhook-key"
# Intuit's own test vector: intuit/QuickBooks-V3-Java-SDK WebhooksServiceTest.
INTUIT = json.loads((VENDORS / "intuit_webhooks_signature_vector.json").read_text())


@pytest.fixture
def secrets(app):
    app.config["WEBHOOK_SECRETS"] = {
        "xero": XERO_KEY,
        "quickbooks": INTUIT["verifierToken"],
    }


def post(client, name, body: bytes, header: str, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[header] = signature
    return client.post(f"/webhooks/{name}", data=body, headers=headers)


def stored(session) -> int:
    return session.scalar(select(func.count()).select_from(RawPayload))


def test_intuit_vector_verifies_and_a_wrong_one_does_not():
    body = INTUIT["payload"].encode()
    verify_intuit(
        INTUIT["verifierToken"], Delivery(body, {"intuit-signature": INTUIT["intuitSignature"]})
    )
    assert sign_base64_hmac(INTUIT["verifierToken"], body) == INTUIT["intuitSignature"]
    with pytest.raises(SignatureError, match="does not match"):
        verify_intuit(INTUIT["verifierToken"], Delivery(body, {"intuit-signature": "1234"}))
    with pytest.raises(SignatureError, match="missing intuit-signature"):
        verify_intuit(INTUIT["verifierToken"], Delivery(body, {}))
    with pytest.raises(SignatureError):
        verify_intuit(INTUIT["verifierToken"], Delivery(body, {"intuit-signature": "é" * 44}))


def test_xero_intent_to_receive_is_200_when_signed_and_401_when_not(client, session, secrets):
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0METHING"}'
    good = post(client, "xero", body, "x-xero-signature", sign_base64_hmac(XERO_KEY, body))
    assert (good.status_code, good.data) == (200, b"")
    bad = post(client, "xero", body, "x-xero-signature", sign_base64_hmac("other", body))
    assert bad.status_code == 401
    assert post(client, "xero", body, "x-xero-signature", None).status_code == 401
    assert stored(session) == 0


def test_a_signed_xero_event_is_stored_as_a_notification(client, session, secrets):
    body = (VENDORS / "xero_openapi_webhook_creditnote_event.json").read_bytes()
    response = post(client, "xero", body, "x-xero-signature", sign_base64_hmac(XERO_KEY, body))
    # Xero takes only 200 with no body as delivered.
    assert (response.status_code, response.data) == (200, b"")
    record = session.scalars(select(InboxRecord)).one()
    assert record.reason.startswith("needs fetching: xero creditnote")
    again = post(client, "xero", body, "x-xero-signature", sign_base64_hmac(XERO_KEY, body))
    assert (again.status_code, again.data, stored(session)) == (200, b"", 1)
    tampered = body.replace(b"CREATE", b"UPDATE")
    assert post(
        client, "xero", tampered, "x-xero-signature", sign_base64_hmac(XERO_KEY, body)
    ).status_code == 401  # fmt: skip


def test_intuit_webhooks_in_both_formats_are_verified_and_kept(client, session, secrets):
    body = INTUIT["payload"].encode()
    response = post(client, "quickbooks", body, "intuit-signature", INTUIT["intuitSignature"])
    assert response.status_code == 200, response.json
    assert (response.json["total"], response.json["skipped"]) == (1, 1)
    cloud = (VENDORS / "intuit_webhooks_cloudevents.json").read_bytes()
    wrong = post(client, "quickbooks", cloud, "intuit-signature", INTUIT["intuitSignature"])
    assert wrong.status_code == 401
    signed = sign_base64_hmac(INTUIT["verifierToken"], cloud)
    assert post(client, "quickbooks", cloud, "intuit-signature", signed).status_code == 200
    assert stored(session) == 2


def test_pagerduty_v3_vector_through_the_endpoint(app, client, session):
    vector = json.loads((VENDORS / "pagerduty_webhookv3_signature_vector.json").read_text())
    app.config["WEBHOOK_SECRETS"] = {"pagerduty": vector["secret"]}
    body = vector["body"].encode()
    header = "X-PagerDuty-Signature"
    assert post(client, "pagerduty", body, header, vector["mismatch"]).status_code == 401
    response = post(client, "pagerduty", body, header, vector["signature"])
    assert response.status_code == 200, response.json
    assert (response.json["total"], response.json["unmatched"]) == (1, 1)
