"""Each sender's check (connectors.signatures, connectors.signatures_keys) on
the vendors' own test vectors where they publish them.

- SendGrid: sendgrid/sendgrid-python `test/unit/test_eventwebhook.py`
  @ 1dcc378bb90ed0d043c9dcfd239eb4c0b5501a81 (key, signature, timestamp and
  payload verbatim, and its bad key, payload, signature and timestamp cases).
- HubSpot: HubSpot/hubspot-api-python `tests/spec/utils/test_signature.py`
  @ 83aedb045f44c8923759f98deb96d54d0272ae10 (the v3 case, verbatim).
- Grafana: grafana/alerting `http/hmac.go` @ fdde1a13fb092b2f83219aa70a8ff169c83434ad
  is the signer; its test (`http/hmac_test.go` @ 5faed067) computes its
  expectations rather than listing them, so the cases here follow that code.
- Zendesk publishes the scheme (developer.zendesk.com, "Verifying webhook
  authenticity": base64(HMACSHA256(TIMESTAMP + BODY))), its test signing
  secret and the timestamp format (`2021-03-25T05:09:27Z`, "Anatomy of a
  webhook request"), but no signed body: the Zendesk cases are built to
  that documented shape.
- Salesforce: an outbound message as Salesforce sent it
  (tests/fixtures/vendors/SOURCES.md).
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.signatures import (
    GRAFANA_TIMESTAMP,
    HUBSPOT_HEADER,
    HUBSPOT_TIMESTAMP,
    ZENDESK_HEADER,
    ZENDESK_TIMESTAMP,
    Delivery,
    SignatureError,
    sign_hubspot,
    verify_alertmanager,
    verify_grafana,
    verify_hubspot,
    verify_zendesk,
)
from connectors.signatures_keys import (
    SENDGRID_HEADER,
    SENDGRID_TIMESTAMP,
    verify_salesforce,
    verify_sendgrid,
)

VENDORS = Path(__file__).parent / "fixtures/vendors"

# --- SendGrid (sendgrid-python's test_eventwebhook.py) ----------------------

SENDGRID_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3G"
    "Rqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_OTHER_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWH"
    "w8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
)
SENDGRID_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15Tl"
    "uLtEZtM="
)
SENDGRID_BAD_SIGNATURE = (
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDW"
    "YNH3j/0="
)
SENDGRID_TIME = "1600112502"
SENDGRID_BODY = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",  # noqa: E501
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()


def sendgrid(body=SENDGRID_BODY, signature=SENDGRID_SIGNATURE, timestamp=SENDGRID_TIME):
    return Delivery(body, {SENDGRID_HEADER: signature, SENDGRID_TIMESTAMP: timestamp})


def test_sendgrid_vector_verifies_with_its_public_key():
    verify_sendgrid(SENDGRID_PUBLIC_KEY, sendgrid(), now=int(SENDGRID_TIME))


@pytest.mark.parametrize(
    ("key", "delivery", "words"),
    [
        (SENDGRID_OTHER_KEY, sendgrid(), "does not match"),
        (SENDGRID_PUBLIC_KEY, sendgrid(body=b"payload"), "does not match"),
        (SENDGRID_PUBLIC_KEY, sendgrid(signature=SENDGRID_BAD_SIGNATURE), "does not match"),
        (SENDGRID_PUBLIC_KEY, sendgrid(timestamp="timestamp"), "does not match"),
        (SENDGRID_PUBLIC_KEY, sendgrid(signature="not base64!"), "not base64"),
        ("not a key", sendgrid(), "not a base64 public key"),
        (SENDGRID_PUBLIC_KEY, Delivery(SENDGRID_BODY, {}), "missing"),
    ],
    ids=["bad key", "bad payload", "bad signature", "bad timestamp", "garbled", "no key", "none"],
)
def test_sendgrid_refuses_what_its_sdk_refuses(key, delivery, words):
    with pytest.raises(SignatureError, match=words):
        verify_sendgrid(key, delivery, now=int(SENDGRID_TIME))


def test_sendgrid_refuses_a_replayed_delivery():
    with pytest.raises(SignatureError, match="s old"):
        verify_sendgrid(SENDGRID_PUBLIC_KEY, sendgrid(), now=int(SENDGRID_TIME) + 301)


# --- HubSpot v3 (hubspot-api-python's test_signature.py) --------------------

HUBSPOT = {
    "client_secret": "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
    "request_body": "{'example_field':'example_value'}",
    "url": "https://www.example.com/webhook_uri",
    "http_method": "POST",
    "timestamp": 15000000,
    "signature": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
}


def hubspot(signature=HUBSPOT["signature"], body=HUBSPOT["request_body"]) -> Delivery:
    headers = {HUBSPOT_HEADER: signature, HUBSPOT_TIMESTAMP: str(HUBSPOT["timestamp"])}
    return Delivery(body.encode(), headers, HUBSPOT["http_method"], HUBSPOT["url"])


def test_hubspot_v3_vector():
    made = sign_hubspot(
        HUBSPOT["client_secret"],
        HUBSPOT["http_method"],
        HUBSPOT["url"],
        HUBSPOT["request_body"].encode(),
        str(HUBSPOT["timestamp"]),
    )
    assert made == HUBSPOT["signature"]
    at = HUBSPOT["timestamp"] / 1000  # HubSpot's timestamps are milliseconds
    verify_hubspot(HUBSPOT["client_secret"], hubspot(), now=at)


def test_hubspot_refuses_tampering_and_an_expired_timestamp():
    at = HUBSPOT["timestamp"] / 1000
    with pytest.raises(SignatureError, match="does not match"):
        verify_hubspot(HUBSPOT["client_secret"], hubspot(body="{}"), now=at)
    with pytest.raises(SignatureError, match="does not match"):
        verify_hubspot("another-secret", hubspot(), now=at)
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_hubspot(HUBSPOT["client_secret"], hubspot(), now=at + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_hubspot(HUBSPOT["client_secret"], Delivery(b"", {}), now=at)


# --- Grafana (grafana/alerting http/hmac.go) ---------------------------------


def grafana_digest(secret: str, message: bytes) -> str:
    """What hmac.go writes: hex of HMAC-SHA256 under the secret's bytes."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("header", ["X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature"])
def test_grafana_signs_the_body_alone_without_a_timestamp(header):
    body = b"test message"
    verify_grafana("secret", Delivery(body, {header: grafana_digest("secret", body)}))
    with pytest.raises(SignatureError, match="does not match"):
        verify_grafana("secret", Delivery(body + b"!", {header: grafana_digest("secret", body)}))


def test_grafana_signs_timestamp_colon_body_with_a_timestamp():
    body, stamp = b"", "1700000000"
    signature = grafana_digest("secret", f"{stamp}:".encode() + body)
    headers = {"X-Grafana-Alerting-Signature": signature, GRAFANA_TIMESTAMP: stamp}
    verify_grafana("secret", Delivery(body, headers), now=1700000000)
    with pytest.raises(SignatureError, match="s old"):
        verify_grafana("secret", Delivery(body, headers), now=1700000000 + 301)
    without = {"X-Grafana-Alerting-Signature": grafana_digest("secret", body)}
    with pytest.raises(SignatureError, match="does not match"):
        verify_grafana("secret", Delivery(body, without | {GRAFANA_TIMESTAMP: stamp}))


# --- Zendesk (built to its documented scheme) ---------------------------------

ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="  # the docs' test secret
ZENDESK_AT = "2021-03-25T05:09:27Z"


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_zendesk_base64_hmac_of_timestamp_and_body():
    body = b'{"type":"zen:event-type:ticket.status_changed"}'
    at = datetime(2021, 3, 25, 5, 9, 27, tzinfo=UTC).timestamp()
    headers = {
        ZENDESK_HEADER: zendesk_signature(ZENDESK_TEST_SECRET, ZENDESK_AT, body),
        ZENDESK_TIMESTAMP: ZENDESK_AT,
    }
    verify_zendesk(ZENDESK_TEST_SECRET, Delivery(body, headers), now=at)
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(ZENDESK_TEST_SECRET, Delivery(body + b" ", headers), now=at)
    stale = headers | {ZENDESK_TIMESTAMP: "2021-03-25T05:09:28Z"}
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(ZENDESK_TEST_SECRET, Delivery(body, stale), now=at)
    with pytest.raises(SignatureError, match="s old"):
        verify_zendesk(ZENDESK_TEST_SECRET, Delivery(body, headers), now=at + 301)


# --- Alertmanager (its http_config's credentials) -----------------------------


@pytest.mark.parametrize(
    ("authorization", "accepted"),
    [
        ("Bearer tok3n", True),
        ("bearer tok3n", True),
        ("Bearer tok3", False),
        ("Basic " + base64.b64encode(b"am:tok3n").decode(), False),
        ("Token tok3n", False),
        ("Basic !!!", False),
    ],
)
def test_alertmanager_bearer_credentials(authorization, accepted):
    delivery = Delivery(b"{}", {"Authorization": authorization})
    if accepted:
        verify_alertmanager("tok3n", delivery)
    else:
        with pytest.raises(SignatureError):
            verify_alertmanager("tok3n", delivery)


def test_alertmanager_basic_auth_is_user_colon_password():
    basic = "Basic " + base64.b64encode(b"am:s3cret").decode()
    verify_alertmanager("am:s3cret", Delivery(b"{}", {"Authorization": basic}))
    with pytest.raises(SignatureError, match="missing Authorization"):
        verify_alertmanager("am:s3cret", Delivery(b"{}", {}))


# --- Salesforce outbound messages (the org id) --------------------------------

OUTBOUND = (VENDORS / "salesforce_outbound_message_opportunity.xml").read_bytes()


@pytest.mark.parametrize("org", ["00D7F00000107XsUAI", "00D7F00000107Xs"])
def test_salesforce_message_from_the_configured_org(org):
    verify_salesforce(org, Delivery(OUTBOUND, {}))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (OUTBOUND.replace(b"00D7F00000107XsUAI", b"00D000000000001AAA"), "from org"),
        (b'{"records": []}', "not a Salesforce outbound message"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
            "not a Salesforce outbound message",
        ),
    ],
    ids=["another org", "not XML", "entities"],
)
def test_salesforce_refuses_other_orgs_and_other_bodies(body, words):
    with pytest.raises(SignatureError, match=words):
        verify_salesforce("00D7F00000107XsUAI", Delivery(body, {}))
