"""Vendor-shaped input for bench/ingest.py: N records in each connector's own format.

Each builder returns a `Workload`: the file(s) to ingest, how many records
they hold, and the identities and contacts the clients need so that every
record finds its client the way that connector resolves it:

  stripe        NDJSON of Stripe events (invoice.finalized / payment_failed /
                paid / voided, charge.succeeded / failed / refunded, disputes,
                customer.subscription.*); client ("stripe", "cus_...")
  zendesk       NDJSON of incremental-export pages `{"tickets": [...],
                "users": [...]}`, several updated_at versions per ticket;
                client ("zendesk", organization id)
  alertmanager  NDJSON of Alertmanager webhook bodies, many alerts per body,
                each alert firing once and (mostly) resolved in a later body;
                client ("alertmanager", value of label `customer`)
  sendgrid      one JSON array of Event Webhook events; client by the
                contact's email (three contacts per client)
  salesforce    a Data Loader CSV of Opportunity states (upper-case API
                names, quoted, CRLF, ISO dates); client ("salesforce", 18-char
                AccountId)

Every record is one the connector accepts and maps to exactly one event, so
a run stores as many events as there are records. That means no record a
connector skips by design: no `processed`/`deferred` SendGrid events, no
Stripe `invoice.payment_succeeded` next to `invoice.paid` (the second would
be a duplicate), no Alertmanager re-notification of an alert still firing.
A Stripe dispute names only its charge; one that comes in the batch which
teaches the pipeline that charge waits as unmatched and is replayed by the
same ingest call.

The shapes follow the vendors' documented payloads (and the samples in
tests/fixtures/vendors/), trimmed of the long tail of null fields.
"""

import csv
import hashlib
import io
import json
import random
import string
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

START = datetime(2025, 1, 1, tzinfo=UTC)
START_TS = int(START.timestamp())
YEAR = 365 * 24 * 3600
DAY = 24 * 3600
BASE62 = string.digits + string.ascii_letters

FIRST = ["anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas"]
LAST = ["berg", "costa", "dubois", "evans", "fischer", "garcia", "hansen", "ito", "jensen"]


@dataclass
class Workload:
    """What one connector's run ingests, and the clients' identities it needs."""

    files: list[tuple[str, str, bytes]]  # (connector name, filename, content)
    records: int
    identities: list[tuple[str, str, int]] = field(default_factory=list)  # (system, key, client)
    contacts: list[tuple[int, str, str]] = field(default_factory=list)  # (client, name, email)


def _token(rng: random.Random, length: int, alphabet: str = BASE62) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _domain(client: int) -> str:
    return f"client-{client}.example.com"


def _contact(client: int, k: int) -> tuple[str, str]:
    first, last = FIRST[(client + k) % len(FIRST)], LAST[(client * 3 + k) % len(LAST)]
    return f"{first.title()} {last.title()}", f"{first}.{last}{k}@{_domain(client)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ndjson(documents) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def _in_time_order(items: list[tuple], records: int) -> list:
    """The first `records` generated items, sorted by (time, generation order)."""
    items = items[:records]
    items.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in items]


# --- stripe ----------------------------------------------------------------------


ACCOUNT = "acct_1Nv0FGQ9RKHgCVdK"  # the provider's own Stripe account


def stripe(records: int, seed: int, clients: int) -> Workload:
    rng = random.Random(f"{seed}:stripe")
    customers = [f"cus_{_token(rng, 14)}" for _ in range(clients)]
    items: list[tuple] = []
    thread = 0
    while len(items) < records:
        thread += 1
        client = rng.randrange(clients)
        started = START_TS + rng.randrange(YEAR)
        make = _stripe_subscription if rng.random() < 0.12 else _stripe_invoice
        for created, type_, body, extra in make(rng, customers[client], client, started, thread):
            items.append((created, len(items), _stripe_event(rng, type_, created, body, extra)))
    return Workload(
        files=[("stripe", "events.ndjson", _ndjson(_in_time_order(items, records)))],
        records=records,
        identities=[("stripe", customer, i) for i, customer in enumerate(customers)],
    )


def _stripe_event(rng, type_: str, created: int, body: dict, extra: dict | None) -> dict:
    automatic = type_.startswith(("invoice.", "customer.subscription.")) and rng.random() < 0.7
    return {
        "id": f"evt_{_token(rng, 24)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {"object": body} | (extra or {}),
        "livemode": True,
        "pending_webhooks": 1,
        "request": {
            "id": None if automatic else f"req_{_token(rng, 14)}",
            "idempotency_key": None if automatic else str(uuid.UUID(int=rng.getrandbits(128))),
        },
        "type": type_,
    }


def _stripe_invoice(rng, customer: str, client: int, issued: int, n: int):
    currency = rng.choice(["eur", "eur", "gbp", "usd"])
    amount = rng.randint(50, 20000) * 100 + rng.choice([0, 0, 50, 99])
    invoice_id = f"in_{_token(rng, 24)}"
    email = f"billing@{_domain(client)}"
    period_end = issued - rng.randrange(DAY)
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "DE",
        "account_name": "Touchline IT Services GmbH",
        "amount_due": amount,
        "amount_paid": 0,
        "amount_remaining": amount,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "billing_reason": rng.choice(["subscription_cycle", "subscription_cycle", "manual"]),
        "collection_method": "charge_automatically",
        "created": issued - 3600,
        "currency": currency,
        "customer": customer,
        "customer_email": email,
        "customer_name": f"Client {client}",
        "description": None,
        "due_date": issued + 30 * DAY,
        "effective_at": issued,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{ACCOUNT}/live_{_token(rng, 40)}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{ACCOUNT}/live_{_token(rng, 40)}/pdf",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{_token(rng, 24)}",
                    "object": "line_item",
                    "amount": amount,
                    "currency": currency,
                    "description": "Managed services (per seat)",
                    "period": {"end": period_end, "start": period_end - 30 * DAY},
                    "quantity": rng.randint(5, 120),
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": True,
        "metadata": {},
        "number": f"TL{client:04d}-{n:05d}",
        "paid": False,
        "period_end": period_end,
        "period_start": period_end - 30 * DAY,
        "status": "open",
        "status_transitions": {
            "finalized_at": issued,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": f"sub_{_token(rng, 24)}",
        "subtotal": amount,
        "tax": None,
        "total": amount,
    }
    events = [(issued, "invoice.finalized", invoice, None)]
    when = issued + rng.randint(3600, 20 * DAY)
    if rng.random() < 0.1:
        failed = _stripe_charge(rng, customer, client, invoice, when, succeeded=False)
        again = invoice | {"attempt_count": 1, "attempted": True}
        events += [
            (when, "charge.failed", failed, None),
            (when + 1, "invoice.payment_failed", again, None),
        ]
        when += rng.randint(DAY, 5 * DAY)
    outcome = rng.random()
    if outcome < 0.85:
        charge = _stripe_charge(rng, customer, client, invoice, when, succeeded=True)
        paid = invoice | {
            "amount_paid": amount,
            "amount_remaining": 0,
            "attempt_count": invoice["attempt_count"] + 1,
            "attempted": True,
            "charge": charge["id"],
            "paid": True,
            "status": "paid",
            "status_transitions": invoice["status_transitions"] | {"paid_at": when + 2},
        }
        events += [(when, "charge.succeeded", charge, None), (when + 2, "invoice.paid", paid, None)]
        if rng.random() < 0.03:
            events.append(_stripe_refund(rng, charge, when + rng.randint(DAY, 30 * DAY)))
        if rng.random() < 0.01:
            events += _stripe_dispute(rng, charge, when + rng.randint(3 * DAY, 40 * DAY))
    elif outcome < 0.9:
        void = invoice | {"status": "void"}
        void["status_transitions"] = invoice["status_transitions"] | {"voided_at": when}
        events.append((when, "invoice.voided", void, None))
    return events


def _stripe_charge(rng, customer, client, invoice, created, succeeded: bool) -> dict:
    charge_id = f"ch_{_token(rng, 24)}"
    amount = invoice["amount_due"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "balance_transaction": f"txn_{_token(rng, 24)}" if succeeded else None,
        "billing_details": {
            "address": {
                "city": "Berlin",
                "country": "DE",
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": f"billing@{_domain(client)}",
            "name": f"Client {client}",
            "phone": None,
        },
        "captured": succeeded,
        "created": created,
        "currency": invoice["currency"],
        "customer": customer,
        "description": f"Payment for Invoice {invoice['number']}",
        "disputed": False,
        "failure_code": None if succeeded else "card_declined",
        "failure_message": None if succeeded else "Your card was declined.",
        "invoice": invoice["id"],
        "livemode": True,
        "metadata": {},
        "outcome": {
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else "generic_decline",
            "risk_level": "normal",
            "risk_score": rng.randint(5, 60),
            "seller_message": "Payment complete."
            if succeeded
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": f"pi_{_token(rng, 24)}",
        "payment_method": f"pm_{_token(rng, 24)}",
        "payment_method_details": {
            "card": {
                "brand": rng.choice(["visa", "mastercard", "amex"]),
                "country": "DE",
                "exp_month": rng.randint(1, 12),
                "exp_year": rng.randint(2026, 2031),
                "fingerprint": _token(rng, 16),
                "funding": "credit",
                "last4": f"{rng.randrange(10000):04d}",
                "network": "visa",
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_url": f"https://pay.stripe.com/receipts/invoices/{_token(rng, 60)}",
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "status": "succeeded" if succeeded else "failed",
    }


def _stripe_refund(rng, charge: dict, when: int):
    refunded = charge["amount"] if rng.random() < 0.5 else charge["amount"] // 2
    refund = {
        "id": f"re_{_token(rng, 24)}",
        "object": "refund",
        "amount": refunded,
        "charge": charge["id"],
        "created": when,
        "currency": charge["currency"],
        "reason": "requested_by_customer",
        "status": "succeeded",
    }
    body = charge | {
        "amount_refunded": refunded,
        "refunded": refunded == charge["amount"],
        "refunds": charge["refunds"] | {"data": [refund], "total_count": 1},
    }
    return (when, "charge.refunded", body, {"previous_attributes": {"amount_refunded": 0}})


def _stripe_dispute(rng, charge: dict, when: int) -> list:
    """A dispute names its charge, not the customer (as Stripe sends it)."""
    dispute = {
        "id": f"dp_{_token(rng, 24)}",
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": when,
        "currency": charge["currency"],
        "evidence_details": {
            "due_by": when + 14 * DAY,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": True,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": rng.choice(["fraudulent", "product_not_received", "general", "duplicate"]),
        "status": "needs_response",
    }
    events = [(when, "charge.dispute.created", dispute, None)]
    if rng.random() < 0.7:
        closed = when + rng.randint(15 * DAY, 60 * DAY)
        settled = dispute | {"status": rng.choice(["won", "lost"])}
        settled["evidence_details"] = dispute["evidence_details"] | {"has_evidence": True}
        events.append((closed, "charge.dispute.closed", settled, None))
    return events


def _stripe_subscription(rng, customer: str, client: int, started: int, n: int):
    currency = rng.choice(["eur", "eur", "gbp", "usd"])
    quantity = rng.randint(5, 120)
    subscription_id = f"sub_{_token(rng, 24)}"
    price = {
        "id": f"price_{_token(rng, 24)}",
        "object": "price",
        "active": True,
        "currency": currency,
        "product": f"prod_{_token(rng, 14)}",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        "type": "recurring",
        "unit_amount": rng.choice([1500, 2900, 4900, 8900]),
    }
    item = {
        "id": f"si_{_token(rng, 14)}",
        "object": "subscription_item",
        "created": started,
        "price": price,
        "quantity": quantity,
        "subscription": subscription_id,
    }
    subscription = {
        "id": subscription_id,
        "object": "subscription",
        "billing_cycle_anchor": started,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "collection_method": "charge_automatically",
        "created": started,
        "currency": currency,
        "current_period_end": started + 30 * DAY,
        "current_period_start": started,
        "customer": customer,
        "description": None,
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": f"in_{_token(rng, 24)}",
        "livemode": True,
        "metadata": {},
        "start_date": started,
        "status": "active",
    }
    events = [(started, "customer.subscription.created", subscription, None)]
    when = started
    for _ in range(rng.randint(0, 2)):
        when += rng.randint(7 * DAY, 90 * DAY)
        previous = subscription["items"]
        item = item | {"quantity": max(1, item["quantity"] + rng.randint(-10, 20))}
        subscription = subscription | {"items": previous | {"data": [item]}}
        extra = {"previous_attributes": {"items": previous}}
        events.append((when, "customer.subscription.updated", subscription, extra))
    if rng.random() < 0.2:
        when += rng.randint(30 * DAY, 120 * DAY)
        ended = subscription | {"status": "canceled", "canceled_at": when, "ended_at": when}
        events.append((when, "customer.subscription.deleted", ended, None))
    return events


# --- zendesk ---------------------------------------------------------------------

ZENDESK = "https://msp-support.zendesk.com"
SUBJECTS = ["Printer offline", "VPN drops every hour", "New starter laptop", "Mail bounces",
            "Cannot open shared drive", "Teams calls choppy", "Password reset",
            "Backup job failed", "Wi-Fi in meeting room 2"]  # fmt: skip


def zendesk(records: int, seed: int, clients: int) -> Workload:
    rng = random.Random(f"{seed}:zendesk")
    orgs = [360_010_000_000 + 17 * i for i in range(clients)]
    users = {
        380_000_000_000 + 10 * i + k: (i, *_contact(i, k)) for i in range(clients) for k in range(3)
    }
    requesters = list(users)
    agents = [370_000_000_000 + k for k in range(12)]
    groups = [360_000_100_000 + k for k in range(3)]
    items: list[tuple] = []
    ticket_id = 10_000
    while len(items) < records:
        ticket_id += 1
        requester = rng.choice(requesters)
        org = orgs[users[requester][0]]
        created = START_TS + rng.randrange(YEAR)
        versions = _zendesk_versions(rng, ticket_id, org, requester, created, agents, groups)
        items += [(updated, len(items) + i, ticket) for i, (updated, ticket) in enumerate(versions)]
    tickets = _in_time_order(items, records)
    pages = []
    for start in range(0, len(tickets), 1000):
        page = tickets[start : start + 1000]
        side = sorted({t["requester_id"] for t in page})
        pages.append(
            {
                "tickets": page,
                "users": [_zendesk_user(rng, user, *users[user], orgs) for user in side],
                "after_cursor": _token(rng, 40),
                "before_cursor": _token(rng, 40),
                "after_url": f"{ZENDESK}/api/v2/incremental/tickets/cursor.json"
                f"?cursor={_token(rng, 40)}&include=users",
                "before_url": None,
                "end_of_stream": start + 1000 >= len(tickets),
            }
        )
    return Workload(
        files=[("zendesk", "tickets.ndjson", _ndjson(pages))],
        records=records,
        identities=[("zendesk", str(org), i) for i, org in enumerate(orgs)],
    )


def _zendesk_versions(rng, ticket_id, org, requester, created, agents, groups):
    """The ticket as the export sees it after each change: (updated_at, ticket)."""
    subject = rng.choice(SUBJECTS)
    channel = rng.choice(["email", "email", "web", "api"])
    base = {
        "url": f"{ZENDESK}/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "external_id": None,
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": _iso(created),
        "updated_at": _iso(created),
        "generated_timestamp": created,
        "type": rng.choice(["incident", "question", "problem", "task", None]),
        "subject": subject,
        "raw_subject": subject,
        "description": f"Hello, {subject.lower()} since this morning. Can you have a look?",
        "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
        "status": "new",
        "recipient": "support@msp-support.example.com",
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": None,
        "organization_id": org,
        "group_id": rng.choice(groups),
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": rng.sample(["hardware", "network", "email", "access", "vip", "onsite"], 2),
        "custom_fields": [{"id": 360_005_000_001, "value": None},
                          {"id": 360_005_000_002, "value": rng.choice(["remote", "onsite"])}],
        "satisfaction_rating": {"score": "unoffered"},
        "sharing_agreement_ids": [],
        "custom_status_id": 360_006_000_001,
        "followup_ids": [],
        "ticket_form_id": 360_007_000_001,
        "brand_id": 360_008_000_001,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }  # fmt: skip
    versions = [(created, base)]
    ticket, when = base, created
    steps = ["open"] + [rng.choice(["open", "pending", "hold"]) for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.85:
        steps.append("solved")
        if rng.random() < 0.6:
            steps.append("closed")
    for status in steps:
        when += 4 * DAY if status == "closed" else rng.randint(600, 2 * DAY)
        ticket = ticket | {
            "status": status,
            "updated_at": _iso(when),
            "generated_timestamp": when,
            "assignee_id": ticket["assignee_id"] or rng.choice(agents),
        }
        versions.append((when, ticket))
    return versions


def _zendesk_user(rng, user_id, client, name, email, orgs) -> dict:
    return {
        "id": user_id,
        "url": f"{ZENDESK}/api/v2/users/{user_id}.json",
        "name": name,
        "email": email,
        "created_at": "2024-06-01T09:00:00Z",
        "updated_at": "2024-06-01T09:00:00Z",
        "time_zone": "Europe/Berlin",
        "iana_time_zone": "Europe/Berlin",
        "locale": "en-US",
        "organization_id": orgs[client],
        "role": "end-user",
        "verified": True,
        "active": True,
        "suspended": False,
        "tags": [],
        "user_fields": {},
    }


# --- alertmanager ----------------------------------------------------------------

ALERTS = [
    ("HostDown", "critical", "node", "{instance} is down", "No scrape for 5 minutes."),
    ("DiskSpaceLow", "warning", "node", "Disk C: on {instance} above 90%", "Free space 8%."),
    ("HighCpuLoad", "warning", "node", "CPU on {instance} above 95%", "For 15 minutes."),
    ("HighMemoryUsage", "warning", "node", "Memory on {instance} above 90%", "For 15 minutes."),
    ("BackupJobFailed", "critical", "veeam", "Backup job failed on {instance}", "Job ended."),
    ("CertificateExpiring", "warning", "blackbox", "TLS certificate on {instance} expires",
     "Expires in less than 14 days."),
    ("UpsOnBattery", "critical", "snmp", "UPS {instance} on battery", "Mains power lost."),
    ("InterfaceDown", "warning", "snmp", "Interface down on {instance}", "ifOperStatus down."),
]  # fmt: skip
ZERO_TIME = "0001-01-01T00:00:00Z"


def alertmanager(records: int, seed: int, clients: int) -> Workload:
    rng = random.Random(f"{seed}:alertmanager")
    customers = [f"customer-{i:04d}" for i in range(clients)]
    changes: list[tuple] = []
    while len(changes) < records:
        client = rng.randrange(clients)
        alertname, severity, job, summary, description = rng.choice(ALERTS)
        instance = f"srv-{rng.randint(1, 12):02d}.{customers[client]}.lan:9100"
        labels = {
            "alertname": alertname,
            "customer": customers[client],
            "instance": instance,
            "job": job,
            "severity": severity,
            "site": rng.choice(["hq", "branch"]),
        }
        fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        starts = START_TS + rng.randrange(YEAR) + rng.random()
        alert = {
            "status": "firing",
            "labels": labels,
            "annotations": {
                "summary": summary.format(instance=instance),
                "description": description,
                "runbook_url": f"https://wiki.noc.example/runbooks/{alertname}",
            },
            "startsAt": _rfc3339_nano(starts),
            "endsAt": ZERO_TIME,
            "generatorURL": f"http://prometheus.noc.example:9090/graph?g0.expr={alertname}&g0.tab=1",
            "fingerprint": fingerprint,
        }
        changes.append((starts, len(changes), alert))
        if rng.random() < 0.9:
            ends = starts + rng.uniform(300, 36000)
            resolved = alert | {"status": "resolved", "endsAt": _rfc3339_nano(ends)}
            changes.append((ends, len(changes), resolved))
    alerts = _in_time_order(changes, records)
    bodies, start = [], 0
    while start < len(alerts):
        window = alerts[start : start + rng.randint(100, 300)]
        start += len(window)
        bodies += _alert_bodies(window)
    return Workload(
        files=[("alertmanager", "alerts.ndjson", _ndjson(bodies))],
        records=records,
        identities=[("alertmanager", customer, i) for i, customer in enumerate(customers)],
    )


def _rfc3339_nano(ts: float) -> str:
    """As Go's time.RFC3339Nano writes it: nanoseconds, trailing zeros trimmed."""
    whole = int(ts)
    nanos = f"{int((ts - whole) * 1e9):09d}".rstrip("0")
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos}Z" if nanos else f"{stamp}Z"


def _alert_bodies(window: list[dict]) -> list[dict]:
    """One body per alertname (group_by: [alertname]) for this stretch of
    time; an alert that changes twice in it is in two successive bodies."""
    groups: dict[str, list[list[dict]]] = defaultdict(lambda: [[]])
    for alert in window:
        bodies = groups[alert["labels"]["alertname"]]
        if any(a["fingerprint"] == alert["fingerprint"] for a in bodies[-1]):
            bodies.append([])
        bodies[-1].append(alert)
    out = []
    for alertname, bodies in groups.items():
        for alerts in bodies:
            firing = any(a["status"] == "firing" for a in alerts)
            common = {
                name: value
                for name, value in alerts[0]["labels"].items()
                if all(a["labels"].get(name) == value for a in alerts)
            }
            out.append(
                {
                    "version": "4",
                    "groupKey": f'{{}}:{{alertname="{alertname}"}}',
                    "truncatedAlerts": 0,
                    "status": "firing" if firing else "resolved",
                    "receiver": "touchline",
                    "groupLabels": {"alertname": alertname},
                    "commonLabels": common,
                    "commonAnnotations": {},
                    "externalURL": "http://alertmanager.noc.example:9093",
                    "alerts": alerts,
                }
            )
    return out


# --- sendgrid --------------------------------------------------------------------


def sendgrid(records: int, seed: int, clients: int) -> Workload:
    rng = random.Random(f"{seed}:sendgrid")
    contacts = [(i, *_contact(i, k)) for i in range(clients) for k in range(3)]
    campaigns = [
        {"marketing_campaign_id": 11000 + m,
         "marketing_campaign_name": f"Newsletter {m + 1:02d}/2025",
         "category": ["newsletter"], "at": START_TS + m * 30 * DAY + 9 * 3600}
        for m in range(12)
    ] + [
        {"singlesend_id": str(uuid.UUID(int=rng.getrandbits(128))),
         "singlesend_name": name, "category": ["announcement", name.split()[0].lower()],
         "at": START_TS + rng.randrange(YEAR - 30 * DAY)}
        for name in ["Security alert: MFA rollout", "Windows 10 end of support",
                     "Holiday support hours", "Price update 2026", "New service desk portal"]
    ]  # fmt: skip
    items: list[tuple] = []
    while len(items) < records:
        campaign = rng.choice(campaigns)
        _, _, email = rng.choice(contacts)
        sent = campaign["at"] + rng.randrange(7200)
        for when, event in _sendgrid_message(rng, campaign, email, sent):
            items.append((when, len(items), event))
    return Workload(
        files=[("sendgrid", "events.json", json.dumps(_in_time_order(items, records)).encode())],
        records=records,
        contacts=[(client, name, email) for client, name, email in contacts],
    )


USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"


def _sendgrid_message(rng, campaign: dict, email: str, sent: int) -> list[tuple[int, dict]]:
    message = f"{_token(rng, 22)}.filterdrecv-{_token(rng, 10)}-1-{_token(rng, 8)}-4.0"
    common = {
        "email": email,
        "smtp-id": f"<{_token(rng, 22)}@geopod-ismtpd-3>",
        "category": campaign["category"],
        "sg_message_id": message,
    } | {k: v for k, v in campaign.items() if k not in ("at", "category")}

    def event(name: str, when: int, **extra) -> tuple[int, dict]:
        body = {"timestamp": when, "event": name, "sg_event_id": _token(rng, 22)}
        return when, common | body | extra

    fate = rng.random()
    if fate < 0.03:
        return [event("bounce", sent + 5, reason="550 5.1.1 The email account does not exist.",
                      status="5.1.1", type="bounce", bounce_classification="Invalid Address",
                      tls=1)]  # fmt: skip
    if fate < 0.04:
        return [event("dropped", sent, reason="Bounced Address", status="5.0.0")]
    events = [event("delivered", sent + 3, response="250 2.0.0 OK  1733212345 ok", tls=1)]
    when = sent + rng.randint(60, 3 * DAY)
    for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 3])):
        events.append(event("open", when, useragent=USER_AGENT, ip="203.0.113.7",
                            sg_machine_open=False, sg_content_type="html"))  # fmt: skip
        if rng.random() < 0.3:
            events.append(event("click", when + rng.randint(5, 300), useragent=USER_AGENT,
                                ip="203.0.113.7", url="https://www.msp.example/news?utm_source=sg",
                                url_offset={"index": 0, "type": "html"}))  # fmt: skip
        when += rng.randint(600, 2 * DAY)
    extra = rng.random()
    if extra < 0.002:
        events.append(event("spamreport", when))
    elif extra < 0.006:
        events.append(event("unsubscribe", when, useragent=USER_AGENT, ip="203.0.113.7"))
    elif extra < 0.01:
        events.append(event("group_unsubscribe", when, useragent=USER_AGENT, ip="203.0.113.7",
                            url="https://u.sendgrid.example/unsub", asm_group_id=10))  # fmt: skip
    return events


# --- salesforce ------------------------------------------------------------------

STAGES = [  # open stages in order, with their probability and forecast category
    ("Prospecting", 10, "Pipeline"),
    ("Qualification", 10, "Pipeline"),
    ("Needs Analysis", 20, "Pipeline"),
    ("Value Proposition", 50, "Pipeline"),
    ("Id. Decision Makers", 60, "Pipeline"),
    ("Perception Analysis", 70, "Best Case"),
    ("Proposal/Price Quote", 75, "Best Case"),
    ("Negotiation/Review", 90, "Commit"),
]
SF_COLUMNS = ["ID", "ACCOUNTID", "NAME", "STAGENAME", "AMOUNT", "CLOSEDATE", "TYPE",
              "PROBABILITY", "DESCRIPTION", "CURRENCYISOCODE", "CREATEDDATE",
              "LASTMODIFIEDDATE", "ISCLOSED", "ISWON", "OWNERID", "LEADSOURCE",
              "FORECASTCATEGORYNAME", "NEXTSTEP"]  # fmt: skip
PRODUCTS = ["Managed Firewall", "Backup Upgrade", "Microsoft 365 Migration", "Managed Services",
            "Endpoint Security", "Network Refresh", "Helpdesk Extension"]  # fmt: skip


def full_id(short: str) -> str:
    """The 18-character Salesforce id of a 15-character one (case checksum)."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(short[start : start + 5]) if char.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return short + suffix


def salesforce(records: int, seed: int, clients: int) -> Workload:
    rng = random.Random(f"{seed}:salesforce")
    accounts = [full_id(f"0015g00000{_token(rng, 5)}") for _ in range(clients)]
    owners = [full_id(f"0055g00000{_token(rng, 5)}") for _ in range(6)]
    items: list[tuple] = []
    while len(items) < records:
        client = rng.randrange(clients)
        opportunity = full_id(f"0065g00000{_token(rng, 5)}")
        for when, row in _opportunity_states(rng, opportunity, accounts[client], client, owners):
            items.append((when, len(items), row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(SF_COLUMNS)
    writer.writerows(_in_time_order(items, records))
    return Workload(
        files=[("salesforce", "opportunities.csv", out.getvalue().encode())],
        records=records,
        identities=[("salesforce", account, i) for i, account in enumerate(accounts)],
    )


def _opportunity_states(rng, opportunity, account, client, owners):
    """Each state (stage, amount, close date) the opportunity passes through,
    as successive exports show it: (last modified, CSV row)."""
    created = START_TS + rng.randrange(YEAR)
    renewal = rng.random() < 0.25
    kind = "Renewal" if renewal else rng.choice(["New Customer", "Existing Customer - Upgrade"])
    product = rng.choice(PRODUCTS)
    name = f"Client {client} - {product}" + (" Renewal" if renewal else "")
    amount = rng.randint(20, 900) * 100
    close = created + rng.randint(20, 120) * DAY
    currency = rng.choice(["EUR", "EUR", "USD", "GBP"])
    owner = rng.choice(owners)
    description = rng.choice(["", "", f"{product} for {rng.randint(2, 9)} sites.\nIncludes 24x7 "
                              "monitoring, \"gold\" SLA.", "Budget approved."])  # fmt: skip
    picks = sorted(rng.sample(range(len(STAGES)), rng.randint(1, 4)))
    states = [STAGES[i] for i in picks]
    if rng.random() < 0.7:
        won = rng.random() < 0.55
        states.append(("Closed Won", 100, "Closed") if won else ("Closed Lost", 0, "Omitted"))
    rows, modified = [], created
    for stage, probability, forecast in states:
        if rng.random() < 0.3:
            amount = max(1000, amount + rng.randint(-20, 40) * 100)
        if rng.random() < 0.2:
            close += rng.randint(7, 30) * DAY
        closed = stage.startswith("Closed")
        row = [
            opportunity, account, name, stage, f"{amount}.0", _sf_date(close), kind,
            f"{probability}.0", description, currency, _sf_time(created), _sf_time(modified),
            str(closed).lower(), str(stage == "Closed Won").lower(), owner,
            rng.choice(["Web", "Partner Referral", "Phone Inquiry", ""]), forecast,
            "" if closed else rng.choice(["Send revised quote", "Call CFO", ""]),
        ]  # fmt: skip
        rows.append((modified, row))
        modified += rng.randint(1, 20) * DAY + rng.randrange(DAY)
    return rows


def _sf_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _sf_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# Vendor connector name -> builder(records, seed, clients), in report order.
VENDORS = {
    "stripe": stripe,
    "zendesk": zendesk,
    "alertmanager": alertmanager,
    "sendgrid": sendgrid,
    "salesforce": salesforce,
}
