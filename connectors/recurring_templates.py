"""Recurring invoice templates of the accounting systems as recurring revenue.

A provider billing through QuickBooks Online or Xero sets up each client's
monthly fee as a template the system raises an invoice from on a schedule
(a QuickBooks RecurringTransaction, a Xero RepeatingInvoice). Each template
becomes a subscription thread (`recurring-<id>`), so crm.revenue counts it in
the client's MRR like a Stripe subscription or a ConnectWise agreement:

- its amount per invoice over its interval, normalised to a month by
  crm.revenue.per_month (a week x 52 / 12, a year / 12; "every 2 months"
  halves it), is the event's `monthly_amount`; a template whose interval is
  not one we know (QuickBooks' "Daily" is, its on-request templates are not)
  has none and is counted as unpriced, never guessed;
- the amount is before tax (tax collected is not the provider's revenue; the
  other sources' amounts are before tax too);
- `schedule_status` says whether it earns (`active`; `inactive` when
  QuickBooks' `Active` is false), and `recurring_until` is its end date, after
  which crm.revenue stops counting it; a deleted template ends the thread
  (`subscription.cancelled`).

The vendor modules read their fields and call `template_events`; the events
share these keys: `<key>:started` at the schedule's start (Xero, whose
versions are known only by when they start: `<key>@<start date>`),
`<key>@<version>` at the version's time for each later version the system
numbers (QuickBooks' SyncToken), `<key>:deleted` when found deleted. A
re-read of the same version adds nothing; a new version is a new event that,
being later, is the item's state. A template first read at a later version
tells its start with that version's amount and status: what it billed
before a version never read is not known, and the start is the nearest.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from connectors.accounting import money_text
from connectors.base import CanonicalEvent
from crm.identities import ClientHints
from crm.revenue import per_month


@dataclass
class Template:
    """What one recurring template says, read by its vendor's module."""

    origin: str
    key: str  # the thread: "recurring-<id>"
    name: str
    hints: ClientHints
    started: datetime  # when its schedule (or this version of it) begins
    amount: Decimal | None  # per invoice, before tax
    currency: str | None
    interval: str | None  # the vendor's name of the interval (Monthly, WEEKLY)
    every: int  # intervals between invoices
    status: str  # active, inactive
    url: str | None = None
    until: datetime | None = None  # its end date
    version: str | None = None  # a later version's name, when the vendor numbers them
    changed: datetime | None = None  # when that version was saved
    deleted: datetime | None = None  # when it was found deleted
    extra: dict | None = None  # vendor attributes kept beside
    # The start's key: ":started", or a version's own ("@<start date>") for a
    # vendor whose versions are known only by when they start (Xero).
    started_key: str = ":started"


def template_events(t: Template) -> list[CanonicalEvent]:
    monthly = per_month(t.amount, t.interval, t.every) if t.currency else None
    attributes = {
        "recurring": True,
        "schedule_status": t.status,
        "interval": t.interval,
        "every": t.every,
        "monthly_amount": None if monthly is None else str(monthly),
        "recurring_until": t.until.date().isoformat() if t.until else None,
        **(t.extra or {}),
    }
    attributes = {name: value for name, value in attributes.items() if value is not None}
    each = "" if t.every == 1 else f" every {t.every}"
    priced = f" {money_text(t.amount, t.currency)} {(t.interval or 'unscheduled').lower()}{each}"
    money = {"amount": t.amount, "currency": t.currency} if t.currency else {}

    def event(kind, suffix, at, word) -> CanonicalEvent:
        return CanonicalEvent(
            origin=t.origin,
            external_id=f"{t.key}{suffix}"[:200],
            kind=kind,
            occurred_at=at,
            hints=t.hints,
            title=f"Recurring invoice {t.name} {word}:{priced} ({t.status})"[:500],
            thread_key=t.key,
            url=t.url,
            attributes=attributes,
            **money,
        )

    events = [event("subscription.created", t.started_key, t.started, "set up")]
    if t.version is not None and t.changed is not None:
        at = max(t.changed, t.started)
        events.append(event("subscription.updated", f"@{t.version}", at, "changed"))
    if t.deleted is not None:
        at = max([t.deleted, t.started] + [e.occurred_at for e in events])
        events.append(event("subscription.cancelled", ":deleted", at, "deleted"))
    return events
