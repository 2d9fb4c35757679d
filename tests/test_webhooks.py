"""POST /webhooks/<connector>: signed, stored before processing, idempotent."""

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.pipeline.runs import payload_content
from connectors.signatures import (
    SignatureError,
    sign_hmac,
    sign_stripe,
    verify_hmac,
    verify_stripe,
)
from crm.models import Event, IngestRun, RawPayload
from tests.factories import event, make_client

VECTORS = Path(__file__).parent / "fixtures/vendors/stripe_webhook_signature_vectors_DERIVED.json"
SECRET = "tickets-secret"


@pytest.fixture
def signed(app):
    app.config["WEBHOOK_SECRETS"] = {"tickets": SECRET}
    make_client("acme", identities=[("account", "AC-1")])


def post(client, body: bytes, signature: str | None = None, name: str = "tickets"):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Touchline-Signature"] = signature
    return client.post(f"/webhooks/{name}", data=body, headers=headers)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def body_of(*records) -> bytes:
    return json.dumps(list(records)).encode()


def test_a_signed_body_is_stored_and_processed(client, session, signed):
    body = body_of(event("z1", "ticket.opened", 0, account="AC-1", thread="T1"))
    response = post(client, body, sign_hmac(SECRET, body))
    assert response.status_code == 200, response.json
    assert response.json | {"run_id": 0} == {
        "run_id": 0, "connector": "tickets", "status": "finished", "total": 1,
        "accepted": 1, "duplicate": 0, "skipped": 0, "rejected": 0, "unmatched": 0,
    }  # fmt: skip
    assert payload_content(session, session.scalars(select(RawPayload.id)).one()) == body


def test_a_second_delivery_answers_200_and_changes_nothing(client, session, signed):
    body = body_of(event("z1", "ticket.opened", 0, account="AC-1"))
    assert post(client, body, sign_hmac(SECRET, body)).status_code == 200
    again = post(client, body, sign_hmac(SECRET, body))
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert (count(session, IngestRun), count(session, Event)) == (1, 1)


@pytest.mark.parametrize(
    ("signature", "words"),
    [
        (None, "missing X-Touchline-Signature"),
        ("sha256=" + "0" * 64, "does not match"),
        ("md5=abc", "must be 'sha256=<hex digest>'"),
    ],
)
def test_a_bad_or_missing_signature_is_refused_and_nothing_stored(
    client, session, signed, signature, words
):
    response = post(client, body_of(event("z1", "ticket.opened", 0, account="AC-1")), signature)
    assert response.status_code == 401 and words in response.json["error"]
    assert count(session, RawPayload) == 0


def test_a_tampered_body_is_refused(client, session, signed):
    body = body_of(event("z1", "ticket.opened", 0, account="AC-1"))
    tampered = body.replace(b"AC-1", b"AC-2")
    assert post(client, tampered, sign_hmac(SECRET, body)).status_code == 401


def test_a_connector_without_a_secret_refuses_webhooks(client, session):
    body = b"[]"
    response = post(client, body, sign_hmac("anything", body), name="billing")
    assert response.status_code == 401
    assert "TOUCHLINE_WEBHOOK_SECRET_BILLING" in response.json["error"]


def test_unknown_connector_is_404(client):
    assert post(client, b"[]", "sha256=00", name="nosuch").status_code == 404


def test_malformed_json_gets_400_with_the_parse_error_and_is_kept(client, session, signed):
    body = b'[{"id": "z1",'
    response = post(client, body, sign_hmac(SECRET, body))
    assert response.status_code == 400 and "not valid JSON" in response.json["error"]
    assert session.scalars(select(IngestRun.status)).all() == ["failed"]
    assert payload_content(session, session.scalars(select(RawPayload.id)).one()) == body


def test_a_body_over_the_limit_gets_413(app, client, session, signed):
    app.config["WEBHOOK_MAX_BYTES"] = 100
    body = body_of(*[event(f"z{n}", "ticket.opened", 0, account="AC-1") for n in range(5)])
    assert post(client, body, sign_hmac(SECRET, body)).status_code == 413
    assert count(session, RawPayload) == 0


# --- Stripe's scheme, on the published vectors -------------------------------


def vectors() -> list[dict]:
    return json.loads(VECTORS.read_text())["vectors"]


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: str(v["timestamp"]))
def test_stripe_vectors_verify(vector):
    body = vector["raw_body"].encode()
    assert sign_stripe(vector["secret"], body, vector["timestamp"]) == vector["expected_header"]
    verify_stripe(vector["secret"], vector["expected_header"], body, now=vector["timestamp"])


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: str(v["timestamp"]))
def test_stripe_rejects_tampered_stale_and_foreign_signatures(vector):
    body, header, at = vector["raw_body"].encode(), vector["expected_header"], vector["timestamp"]
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe(vector["secret"], header, body + b" ", now=at)
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe("whsec_other", header, body, now=at)
    with pytest.raises(SignatureError, match="s old"):
        verify_stripe(vector["secret"], header, body, now=at + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_stripe(vector["secret"], None, body, now=at)


def test_stripe_accepts_any_of_several_v1_signatures():
    body, now = b'{"id": "evt_1"}', int(time.time())
    good = sign_stripe("whsec_new", body, now)
    rolled = f"t={now},v1={'0' * 64},{good.split(',')[1]}"
    verify_stripe("whsec_new", rolled, body)


def test_hmac_verifies_its_own_signature():
    verify_hmac("s", sign_hmac("s", b"{}"), b"{}")


def test_a_json_body_sent_as_csv_is_refused_and_not_taken_as_seen(app, client, session):
    """Stripe's event, posted as text/csv, would be read as a CSV header and
    no record: refused, and the same body sent as JSON is then read."""
    app.config["WEBHOOK_SECRETS"] = {"stripe": "whsec_test"}
    make_client("acme", identities=[("stripe", "cus_QXg1o8vcGmoR32")])
    invoice = json.loads((VECTORS.parent / "stripe_openapi_fixture_invoice.json").read_text())
    event_body = {
        "id": "evt_1",
        "object": "event",
        "type": "invoice.finalized",
        "created": int(time.time()),
        "data": {"object": invoice},
    }
    body = json.dumps(event_body).encode()

    def send(content_type: str):
        signature = sign_stripe("whsec_test", body, int(time.time()))
        headers = {"Content-Type": content_type, "Stripe-Signature": signature}
        return client.post("/webhooks/stripe", data=body, headers=headers)

    refused = send("text/csv")
    assert refused.status_code == 415
    assert "JSON but was sent as text/csv" in refused.json["error"]
    assert count(session, RawPayload) == 0
    accepted = send("application/json")
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["accepted"] == 1
    assert count(session, Event) == 1


def test_the_same_bytes_read_as_another_format_are_not_a_duplicate(client, session, signed):
    """A run of a body read as one format says nothing about the same bytes
    read as another: the payload is kept once per format."""
    body = b"id,kind,occurred_at,account\nz9,ticket.opened,2026-10-01T09:00Z,AC-1\n"
    as_json = post(client, body, sign_hmac(SECRET, body))  # application/json: unreadable
    assert as_json.status_code == 400
    headers = {"Content-Type": "text/csv", "X-Touchline-Signature": sign_hmac(SECRET, body)}
    as_csv = client.post("/webhooks/tickets", data=body, headers=headers)
    assert as_csv.status_code == 200, as_csv.json
    assert as_csv.json["accepted"] == 1
    assert count(session, RawPayload) == 2


@pytest.mark.parametrize(
    ("name", "header", "value"),
    [
        ("stripe", "Stripe-Signature", "t={now},v1=\xe9\xe9"),
        ("tickets", "X-Touchline-Signature", "sha256=\xe9"),
    ],
)
def test_a_signature_that_is_not_ascii_is_refused(app, client, session, name, header, value):
    app.config["WEBHOOK_SECRETS"] = {"stripe": "whsec_test", "tickets": SECRET}
    headers = {"Content-Type": "application/json", header: value.format(now=int(time.time()))}
    response = client.post(f"/webhooks/{name}", data=b"[]", headers=headers)
    assert response.status_code == 401
    assert count(session, RawPayload) == 0
