"""The senders that share no secret with Touchline (see connectors.signatures).

SendGrid signs its Event Webhook with a private key of its own and shows the
account the public key: the "secret" configured for `sendgrid` is that
public key (base64 DER, as the settings page and the API give it). Salesforce
outbound messages carry no signature at all; Salesforce documents checking
that the message's OrganizationId is your org's (and serving over TLS), so
the "secret" of `salesforce_outbound` is the org id, 15 or 18 characters.
"""

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from connectors.salesforce_outbound import organization_id
from connectors.signatures import Delivery, SignatureError, fresh

SENDGRID_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def sendgrid_public_key(secret: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its base64 DER text (PEM armour allowed)."""
    text = "".join(
        line for line in secret.strip().splitlines() if not line.startswith("-----")
    ).strip()
    try:
        key = load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise SignatureError(
            "the configured SendGrid verification key is not a base64 public key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError("the configured SendGrid verification key is not an ECDSA key")
    return key


def verify_sendgrid(secret: str, delivery: Delivery, now: float | None = None) -> None:
    """ECDSA (P-256, SHA-256) of timestamp + body, the signature base64 DER."""
    signature = delivery.required(SENDGRID_HEADER)
    timestamp = delivery.required(SENDGRID_TIMESTAMP)
    try:
        decoded = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SENDGRID_HEADER} is not base64") from None
    try:
        sendgrid_public_key(secret).verify(
            decoded, timestamp.encode("latin-1") + delivery.body, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise SignatureError("signature does not match the timestamp and body") from None
    fresh(timestamp, SENDGRID_TIMESTAMP, now)


def normalised_org_id(value: str) -> str:
    """An org id compared by its 15-character, case-sensitive form: the
    18-character form only adds a case checksum."""
    return value.strip()[:15]


def verify_salesforce(secret: str, delivery: Delivery, now: float | None = None) -> None:
    found = organization_id(delivery.body)
    if found is None:
        raise SignatureError("the body is not a Salesforce outbound message (no OrganizationId)")
    if normalised_org_id(found) != normalised_org_id(secret):
        raise SignatureError(f"the message is from org {found}, not the configured org")
