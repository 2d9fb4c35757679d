"""Sign a test delivery as its real sender would (connectors.senders).

`secret_for` gives the secret to configure for a sender from a test's shared
secret (SendGrid's is the public half of a key pair made here, Salesforce's
an org id); `headers_for` the headers that sender sends with a body.
"""

import base64
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.signatures import (
    CONNECTWISE_HEADER,
    GRAFANA_HEADERS,
    GRAFANA_TIMESTAMP,
    HMAC_HEADER,
    STRIPE_HEADER,
    ZENDESK_HEADER,
    ZENDESK_TIMESTAMP,
    sign_connectwise,
    sign_grafana,
    sign_hmac,
    sign_stripe,
    sign_zendesk,
)
from connectors.signatures_keys import SENDGRID_HEADER, SENDGRID_TIMESTAMP

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
# The org of the Salesforce outbound message in tests/fixtures/vendors.
SALESFORCE_ORG = "00D7F00000107XsUAI"


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as SendGrid's settings show it: base64 of its DER."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sign_sendgrid(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> str:
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def secret_for(connector: str, secret: str) -> str:
    if connector == "sendgrid":
        return public_key_text(SENDGRID_KEY)
    if connector == "salesforce_outbound":
        return SALESFORCE_ORG
    return secret


def headers_for(connector: str, secret: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    if connector == "stripe":
        return {STRIPE_HEADER: sign_stripe(secret, body, now)}
    if connector == "zendesk":
        at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {ZENDESK_HEADER: sign_zendesk(secret, body, at), ZENDESK_TIMESTAMP: at}
    if connector == "grafana":
        stamp = str(now)
        return {GRAFANA_HEADERS[0]: sign_grafana(secret, body, stamp), GRAFANA_TIMESTAMP: stamp}
    if connector in ("alertmanager", "ninjaone"):
        return {"Authorization": f"Bearer {secret}"}
    if connector == "sendgrid":
        stamp = str(now)
        return {
            SENDGRID_HEADER: sign_sendgrid(SENDGRID_KEY, body, stamp),
            SENDGRID_TIMESTAMP: stamp,
        }
    if connector == "salesforce_outbound":
        return {}
    if connector == "connectwise":
        return {CONNECTWISE_HEADER: sign_connectwise(secret, body)}
    return {HMAC_HEADER: sign_hmac(secret, body)}
