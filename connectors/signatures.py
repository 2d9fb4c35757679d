"""Webhook authentication: each sender's own scheme, as the sender documents it.

Every check takes the delivery as it arrived (raw bytes, headers, method and
URL) and the secret configured for its sender (connectors.senders), and
raises SignatureError saying what is wrong, or returns. Which check a sender
gets is connectors.senders' table; the schemes:

- `touchline`: `X-Touchline-Signature: sha256=<hex>`, HMAC-SHA256 of the
  body; for senders of the generic formats, which can sign as they like.
- `stripe`: `Stripe-Signature`, checked by the `stripe` package's own
  verifier (`t=`, several `v1=` while a secret rolls, 300 s tolerance).
- `zendesk`: `X-Zendesk-Webhook-Signature`, base64 HMAC-SHA256 of the
  `X-Zendesk-Webhook-Signature-Timestamp` value followed by the body.
- `sendgrid`: `X-Twilio-Email-Event-Webhook-Signature`, an ECDSA P-256
  (SHA-256) signature of timestamp + body, checked with the public key the
  account shows (the "secret"), in connectors.signatures_keys.
- `grafana`: `X-Grafana-Alerting-Signature`, hex HMAC-SHA256 of the body, or
  of `timestamp:body` when the contact point also sends a timestamp header
  (grafana/alerting `http/hmac.go`).
- `alertmanager`: no signature; its `http_config` sends `Authorization:
  Bearer <secret>` or basic auth (the secret is then `user:password`).
- `mailchimp`: no signature; Mailchimp's documented check is a secret key
  in the webhook's URL (`?key=<secret>`), or basic auth (`user:password`).
- `hubspot`: `X-HubSpot-Signature-v3`, base64 HMAC-SHA256 of method + URL +
  body + `X-HubSpot-Request-Timestamp` (milliseconds), 5-minute window.
- `connectwise`: `x-content-signature`, base64 HMAC-SHA256 of the body
  keyed with the SHA-256 digest of the callbacks' signing key (the one the
  callback's `Metadata.key_url` answers with; never fetched from a URL a
  body names, which anyone could send).
- `salesforce`: an outbound message's OrganizationId must be the org's id
  (Salesforce signs nothing: its documented check is the org id, over TLS),
  in connectors.signatures_keys.
"""

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from connectors.fields import parse_datetime

HMAC_HEADER = "X-Touchline-Signature"
STRIPE_HEADER = "Stripe-Signature"
ZENDESK_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
# Grafana's documented header, and the default of grafana/alerting's signer
# (http/hmac.go @ fdde1a13) where a contact point names none.
GRAFANA_HEADERS = ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature")
GRAFANA_TIMESTAMP = "X-Grafana-Alerting-Signature-Timestamp"
HUBSPOT_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP = "X-HubSpot-Request-Timestamp"
HUBSPOT_WINDOW_MS = 5 * 60 * 1000
# Senders whose timestamp says when they signed: a delivery older (or newer)
# than this is a replay.
TIMESTAMP_TOLERANCE_S = 300


class SignatureError(ValueError):
    """Why a webhook was not accepted as its sender's."""


@dataclass(frozen=True)
class Delivery:
    """A webhook request as it arrived, for a check to read."""

    body: bytes
    headers: dict[str, str]
    method: str = "POST"
    url: str = ""

    def header(self, name: str) -> str | None:
        """A header's value, by name in any case ("" counts as missing)."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted and value:
                return value
        return None

    def required(self, name: str) -> str:
        value = self.header(name)
        if value is None:
            raise SignatureError(f"missing {name} header")
        return value


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _same(expected: str, given: str) -> bool:
    """Whether a header's digest is the expected one, in constant time. A
    header may carry any byte (Werkzeug reads them as Latin-1), and
    compare_digest refuses text that is not ASCII: such a digest is simply
    not ours."""
    return given.isascii() and hmac.compare_digest(expected, given)


def fresh(timestamp: str, header: str, now: float | None) -> None:
    """Refuse a timestamp that is not a number or is out of the window."""
    try:
        signed_at = int(timestamp.strip())
    except ValueError:
        raise SignatureError(f"{header} is not a Unix timestamp") from None
    age = (time.time() if now is None else now) - signed_at
    if abs(age) > TIMESTAMP_TOLERANCE_S:
        raise SignatureError(
            f"signature timestamp is {int(age)} s old (limit {TIMESTAMP_TOLERANCE_S})"
        )


def sign_hmac(secret: str, body: bytes) -> str:
    """The X-Touchline-Signature of a body (for senders' scripts and tests)."""
    return f"sha256={_hmac(secret, body).hex()}"


def verify_touchline(secret: str, delivery: Delivery, now: float | None = None) -> None:
    header = delivery.required(HMAC_HEADER)
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        raise SignatureError(f"{HMAC_HEADER} must be 'sha256=<hex digest>'")
    if not _same(_hmac(secret, delivery.body).hex(), digest.lower()):
        raise SignatureError("signature does not match the body")


def verify_hmac(secret: str, header: str | None, body: bytes) -> None:
    """The X-Touchline-Signature check on a header and a body alone."""
    verify_touchline(secret, Delivery(body, {HMAC_HEADER: header or ""}))


def sign_stripe(secret: str, body: bytes, timestamp: int) -> str:
    """The header Stripe would send for `body` at `timestamp` (for tests, tools)."""
    import stripe  # imported when used: it is slow to import, and workers never need it

    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def verify_stripe(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    """Stripe's own verifier for the signature; the 300 s window is checked
    here (the library's reads the clock, and a test's vectors are old)."""
    import stripe  # imported when used: it is slow to import, and workers never need it

    if not header:
        raise SignatureError(f"missing {STRIPE_HEADER} header")
    if not header.isascii():
        raise SignatureError(f"{STRIPE_HEADER} is not ASCII")
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=None)
    except stripe.SignatureVerificationError as error:
        raise SignatureError(_stripe_reason(str(error))) from None
    except UnicodeDecodeError:
        raise SignatureError("the body is not UTF-8, so it is not Stripe's") from None
    signed_at = next(p for p in header.split(",") if p.strip().startswith("t="))
    fresh(signed_at.strip()[2:], STRIPE_HEADER, now)


def _stripe_reason(message: str) -> str:
    """The library's message, in this module's words where they are tested on."""
    if "No signatures found matching" in message:
        return "signature does not match the body"
    return message


def verify_stripe_delivery(secret: str, delivery: Delivery, now: float | None = None) -> None:
    verify_stripe(secret, delivery.header(STRIPE_HEADER), delivery.body, now)


def sign_zendesk(secret: str, body: bytes, timestamp: str) -> str:
    return base64.b64encode(_hmac(secret, timestamp.encode() + body)).decode()


def verify_zendesk(secret: str, delivery: Delivery, now: float | None = None) -> None:
    """Zendesk: base64(HMAC-SHA256(timestamp + body)). Its timestamp is
    ISO 8601 (`2026-03-02T09:00:00Z`) in the docs' examples and the check
    takes it as sent; a stale one is refused when it can be read."""
    signature = delivery.required(ZENDESK_HEADER)
    timestamp = delivery.required(ZENDESK_TIMESTAMP)
    if not _same(sign_zendesk(secret, delivery.body, timestamp), signature.strip()):
        raise SignatureError("signature does not match the timestamp and body")
    _fresh_iso(timestamp, now)


def _fresh_iso(timestamp: str, now: float | None) -> None:

    try:
        signed_at = parse_datetime(timestamp.strip())
    except (TypeError, ValueError):
        raise SignatureError(f"{ZENDESK_TIMESTAMP} is not an ISO 8601 time") from None
    fresh(str(int(signed_at.timestamp())), ZENDESK_TIMESTAMP, now)


def sign_grafana(secret: str, body: bytes, timestamp: str | None = None) -> str:
    message = body if timestamp is None else timestamp.encode() + b":" + body
    return _hmac(secret, message).hex()


def verify_grafana(secret: str, delivery: Delivery, now: float | None = None) -> None:
    signature = next(filter(None, map(delivery.header, GRAFANA_HEADERS)), None)
    if signature is None:
        raise SignatureError(f"missing {GRAFANA_HEADERS[0]} header")
    timestamp = delivery.header(GRAFANA_TIMESTAMP)
    expected = sign_grafana(secret, delivery.body, timestamp)
    if not _same(expected, signature.strip().lower()):
        raise SignatureError("signature does not match the body")
    if timestamp is not None:
        fresh(timestamp, GRAFANA_TIMESTAMP, now)


def verify_alertmanager(secret: str, delivery: Delivery, now: float | None = None) -> None:
    """Alertmanager signs nothing; its http_config sends a bearer token, or
    basic auth (the secret is then `user:password`)."""
    header = delivery.required("Authorization")
    kind, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if kind.lower() == "basic":
        try:
            credentials = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise SignatureError("Authorization: Basic is not base64 of user:password") from None
    elif kind.lower() != "bearer":
        raise SignatureError("Authorization must be 'Bearer <secret>' or 'Basic <user:password>'")
    if not (credentials.isascii() and hmac.compare_digest(credentials, secret)):
        raise SignatureError("the credentials are not this sender's")


def verify_url_key(secret: str, delivery: Delivery, now: float | None = None) -> None:
    """Mailchimp signs nothing: it documents "a secret key in the webhook
    URL", checked as a query parameter (`key`); basic auth in its URL works too."""
    keys = [v for k, v in parse_qsl(urlsplit(delivery.url).query) if k == "key"]
    if not keys:
        if delivery.header("Authorization"):
            return verify_alertmanager(secret, delivery)
        raise SignatureError("the URL has no key=<secret> (nor the request basic auth)")
    if not (keys[0].isascii() and hmac.compare_digest(keys[0], secret)):
        raise SignatureError("the URL's key is not this sender's")


def sign_hubspot(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(_hmac(secret, message)).decode()


def verify_hubspot(secret: str, delivery: Delivery, now: float | None = None) -> None:
    """HubSpot's v3 signature (its app's client secret is the secret)."""
    signature = delivery.required(HUBSPOT_HEADER)
    timestamp = delivery.required(HUBSPOT_TIMESTAMP)
    try:
        signed_ms = int(timestamp.strip())
    except ValueError:
        raise SignatureError(f"{HUBSPOT_TIMESTAMP} is not a time in milliseconds") from None
    now_ms = (time.time() if now is None else now) * 1000
    if abs(now_ms - signed_ms) > HUBSPOT_WINDOW_MS:
        raise SignatureError("signature timestamp is more than 5 minutes old")
    expected = sign_hubspot(secret, delivery.method, delivery.url, delivery.body, timestamp)
    if not _same(expected, signature.strip()):
        raise SignatureError("signature does not match the request")


def sign_base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(_hmac(secret, body)).decode()


def _verify_base64_hmac(name: str, secret: str, delivery: Delivery, now: float | None = None):
    """Xero and Intuit: a base64 HMAC-SHA256 of the body in the header `name`."""
    signature = delivery.required(name)
    if not _same(sign_base64_hmac(secret, delivery.body), signature.strip()):
        raise SignatureError("signature does not match the body")


def verify_xero(secret: str, delivery: Delivery, now: float | None = None) -> None:
    _verify_base64_hmac(XERO_HEADER, secret, delivery, now)


def verify_intuit(secret: str, delivery: Delivery, now: float | None = None) -> None:
    _verify_base64_hmac(INTUIT_HEADER, secret, delivery, now)


XERO_HEADER = "x-xero-signature"
INTUIT_HEADER = "intuit-signature"
PAGERDUTY_HEADER = "X-PagerDuty-Signature"


def verify_pagerduty(secret: str, delivery: Delivery, now: float | None = None) -> None:
    """PagerDuty v3: `v1=<hex HMAC-SHA256 of the body>`, several comma-separated
    while a secret is rolled; any one matching is enough."""
    header = delivery.required(PAGERDUTY_HEADER)
    given = [item.strip()[3:] for item in header.split(",") if item.strip().startswith("v1=")]
    if not given:
        raise SignatureError(f"{PAGERDUTY_HEADER} has no v1 signature")
    expected = _hmac(secret, delivery.body).hex()
    if not any(_same(expected, digest.lower()) for digest in given):
        raise SignatureError("signature does not match the body")


CONNECTWISE_HEADER = "x-content-signature"


def sign_connectwise(signing_key: str, body: bytes) -> str:
    """ConnectWise PSA callbacks: base64 HMAC-SHA256 of the body, keyed with
    the SHA-256 digest of the signing key."""
    key = hashlib.sha256(signing_key.encode()).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def verify_connectwise(secret: str, delivery: Delivery, now: float | None = None) -> None:
    signature = delivery.required(CONNECTWISE_HEADER)
    if not _same(sign_connectwise(secret, delivery.body), signature.strip()):
        raise SignatureError("signature does not match the body")
