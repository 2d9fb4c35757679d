"""Webhook signature checks: Stripe's scheme, and a shared-secret HMAC.

Stripe signs `"{t}.{raw body}"` with HMAC-SHA256 and sends
`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`; several v1 values
appear while a secret is being rolled. Other senders (Alertmanager, Zendesk,
SendGrid via a proxy, Salesforce outbound tooling) let the sender set
headers, so they sign the raw body with the shared secret and send
`X-Touchline-Signature: sha256=<hex>`.
"""

import base64
import functools
import hashlib
import hmac
import time

STRIPE_HEADER = "Stripe-Signature"
HMAC_HEADER = "X-Touchline-Signature"
STRIPE_TOLERANCE_S = 300


class SignatureError(ValueError):
    """Why a webhook's signature was not accepted."""


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_stripe(secret: str, body: bytes, timestamp: int) -> str:
    """The header Stripe would send for `body` at `timestamp` (for tests, tools)."""
    return f"t={timestamp},v1={_hex_hmac(secret, f'{timestamp}.'.encode() + body)}"


def verify_stripe(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    if not header:
        raise SignatureError(f"missing {STRIPE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{STRIPE_HEADER} has no valid timestamp") from None
    candidates = parts.get("v1", [])
    if not candidates:
        raise SignatureError(f"{STRIPE_HEADER} has no v1 signature")
    expected = _hex_hmac(secret, f"{timestamp}.".encode() + body)
    if not any(_same_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature does not match the body")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > STRIPE_TOLERANCE_S:
        raise SignatureError(
            f"signature timestamp is {int(age)} s old (limit {STRIPE_TOLERANCE_S})"
        )


def _same_digest(expected: str, given: str) -> bool:
    """Whether a header's digest is the expected one, in constant time. A
    header may carry any byte (Werkzeug reads them as Latin-1), and
    compare_digest refuses text that is not ASCII: such a digest is simply
    not ours."""
    return given.isascii() and hmac.compare_digest(expected, given)


def sign_hmac(secret: str, body: bytes) -> str:
    return f"sha256={_hex_hmac(secret, body)}"


def verify_hmac(secret: str, header: str | None, body: bytes) -> None:
    if not header:
        raise SignatureError(f"missing {HMAC_HEADER} header")
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        raise SignatureError(f"{HMAC_HEADER} must be 'sha256=<hex digest>'")
    if not _same_digest(_hex_hmac(secret, body), digest.lower()):
        raise SignatureError("signature does not match the body")


def sign_base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_base64_hmac(secret: str, header: str | None, body: bytes, name: str) -> None:
    """Xero and Intuit: a base64 HMAC-SHA256 of the body in the header `name`."""
    if not header:
        raise SignatureError(f"missing {name} header")
    if not _same_digest(sign_base64_hmac(secret, body), header.strip()):
        raise SignatureError("signature does not match the body")


PAGERDUTY_HEADER = "X-PagerDuty-Signature"


def verify_pagerduty(secret: str, header: str | None, body: bytes) -> None:
    """PagerDuty v3: `v1=<hex HMAC-SHA256 of the body>`, several comma-separated
    while a secret is rolled; any one matching is enough."""
    if not header:
        raise SignatureError(f"missing {PAGERDUTY_HEADER} header")
    given = [item.strip()[3:] for item in header.split(",") if item.strip().startswith("v1=")]
    if not given:
        raise SignatureError(f"{PAGERDUTY_HEADER} has no v1 signature")
    expected = _hex_hmac(secret, body)
    if not any(_same_digest(expected, digest.lower()) for digest in given):
        raise SignatureError("signature does not match the body")


# Vendors' own schemes, by a connector's `signature_scheme`: the header the
# signature comes in, and its check (secret, header value, raw body).
VENDOR_SCHEMES = {
    "xero": ("x-xero-signature", functools.partial(verify_base64_hmac, name="x-xero-signature")),
    "intuit": ("intuit-signature", functools.partial(verify_base64_hmac, name="intuit-signature")),
    "pagerduty": (PAGERDUTY_HEADER, verify_pagerduty),
}
