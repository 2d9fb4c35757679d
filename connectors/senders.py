"""Who posts to `/webhooks/<name>`, how each proves it, and where its secret is.

Each vendor's sender is checked by the vendor's own scheme
(connectors.signatures), so Zendesk, SendGrid, Grafana, Alertmanager,
HubSpot and Salesforce post directly, with no signing proxy in front. A
connector not in the table reads a generic format (`tickets`, `clients`,
the Salesforce export shapes...), which some script of the MSP's sends:
that script signs with `X-Touchline-Signature`. A vendor's connector does
not take `X-Touchline-Signature`: a secret meant for the vendor's scheme
must not open a second, weaker door.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from connectors import signatures
from connectors.connections.operations import webhook_secret_for
from connectors.salesforce_outbound import acknowledge
from connectors.signatures import Delivery
from connectors.signatures_keys import verify_salesforce, verify_sendgrid
from crm.config import WEBHOOK_SECRET_PREFIX
from crm.extensions import db


@dataclass(frozen=True)
class Sender:
    """A sender's check, and what its configured secret is (for messages and docs)."""

    verify: Callable[..., None]
    secret_is: str
    # The answer the sender expects in place of the JSON one, if any.
    answer: Callable | None = None


GENERIC = Sender(signatures.verify_touchline, "the key of X-Touchline-Signature's HMAC-SHA256")

SENDERS: dict[str, Sender] = {
    "stripe": Sender(
        signatures.verify_stripe_delivery, "the endpoint's signing secret (whsec_...)"
    ),
    "zendesk": Sender(signatures.verify_zendesk, "the webhook's signing secret"),
    "sendgrid": Sender(verify_sendgrid, "the Event Webhook's verification public key"),
    "grafana": Sender(signatures.verify_grafana, "the contact point's HMAC secret"),
    "alertmanager": Sender(
        signatures.verify_alertmanager,
        "the http_config's bearer credentials, or user:password of its basic auth",
    ),
    "hubspot": Sender(signatures.verify_hubspot, "the HubSpot app's client secret"),
    "salesforce_outbound": Sender(verify_salesforce, "the Salesforce org id", acknowledge),
    "xero": Sender(signatures.verify_xero, "the webhook key Xero shows for the subscription"),
    "quickbooks": Sender(signatures.verify_intuit, "the app's webhook verifier token"),
    "mailchimp": Sender(
        signatures.verify_url_key,
        "the key its webhook URL carries (/webhooks/mailchimp?key=SECRET), or user:password",
    ),
    # Freshdesk signs nothing; its "Trigger webhook" action sends basic auth
    # (user:password, or an API key) or the headers it is configured with.
    "freshdesk": Sender(
        signatures.verify_alertmanager,
        "the token its webhook's Authorization header sends (Bearer), or user:password",
    ),
    "freshservice": Sender(
        signatures.verify_alertmanager,
        "the token its webhook's Authorization header sends (Bearer), or user:password",
    ),
    "pagerduty": Sender(signatures.verify_pagerduty, "the webhook subscription's secret"),
    "connectwise": Sender(
        signatures.verify_connectwise,
        "the callbacks' signing key (the signing_key a callback's Metadata.key_url answers)",
    ),
    # NinjaOne signs nothing; its webhook sends the headers it is configured
    # with (WebhookConfiguration.headers, "i.e. Authorization").
    "ninjaone": Sender(
        signatures.verify_alertmanager,
        "the token its webhook's Authorization header sends (Bearer), or user:password",
    ),
}


def sender(name: str) -> Sender:
    return SENDERS.get(name, GENERIC)


def secret_setting(name: str) -> str:
    """The environment variable holding a sender's secret."""
    return f"{WEBHOOK_SECRET_PREFIX}{name.upper()}"


def webhook_secret(name: str) -> str | None:
    """The secret of sender `name`: the one a connection of that vendor holds
    (connectors.connections), else `TOUCHLINE_WEBHOOK_SECRET_<NAME>` (read
    into the app's config at start)."""
    stored = webhook_secret_for(db.session, name)
    return stored or current_app.config["WEBHOOK_SECRETS"].get(name) or None


def authenticate(name: str, delivery: Delivery) -> None:
    """Raise SignatureError unless `delivery` is from sender `name`."""
    secret = webhook_secret(name)
    if not secret:
        raise signatures.SignatureError(
            f"webhooks for {name} are off: set {secret_setting(name)} to {sender(name).secret_is}"
        )
    sender(name).verify(secret, delivery)
