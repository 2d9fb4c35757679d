"""The closed vocabulary of the timeline: sources, event kinds, threads, tiers.

Every event kind belongs to one source and, when it is part of a thread
(a ticket, an invoice, ...), says which thread type and what status it gives
the thread. Connectors map vendor payloads onto these kinds; anything they
cannot map is kept in the inbox as `skipped`, so the vocabulary stays closed.
"""

import functools
from dataclasses import dataclass

SOURCES = ("billing", "rmm", "tickets", "marketing", "sales", "manual")
TIERS = ("new", "standard", "problem", "key")
CLIENT_STATUSES = ("active", "churned")
GROUP_KINDS = ("industry", "product", "location", "timezone", "language", "custom")
# Group kinds that restate a setting of the client itself (its language, its time
# zone): useful for picking clients, but a document that names the client's groups
# lists the others, and says the language and time zone where it gives them.
SETTING_GROUP_KINDS = ("timezone", "language")

# Every kind names the thread type its events join when they carry a thread
# key (a campaign id, an invoice number, ...). These thread types also keep
# their current state as an Entity row; with each, the statuses that count as
# closed (an entity is open while its closed_at is empty).
ENTITY_TYPES = {
    "ticket": {"resolved"},
    "invoice": {"paid", "refunded", "void"},
    "dispute": {"won", "lost", "closed"},
    "alert": {"resolved"},
    "deal": {"won", "lost"},
    "renewal": {"renewed", "cancelled"},
    "commitment": {"done"},
}

# Where in a thread's life a kind stands. When two events of one thread carry
# the same timestamp, the later stage wins, so "resolved" beats "updated".
OPENS, UPDATES, CLOSES = 0, 1, 2


@dataclass(frozen=True)
class Kind:
    name: str
    source: str
    summary: str
    thread: str  # the thread type an event of this kind joins, given a key
    status: str | None = None  # status this kind gives its thread
    stage: int = UPDATES
    status_from_record: bool = False  # the record's own `status` may refine it


_KINDS = (
    Kind("invoice.issued", "billing", "An invoice was issued", "invoice", "open", OPENS),
    Kind("payment.received", "billing", "A payment was received", "invoice", "paid", CLOSES),
    Kind("payment.failed", "billing", "A payment attempt failed", "invoice", "failed"),
    Kind("refund.issued", "billing", "Money was refunded", "invoice", "refunded", CLOSES),
    Kind("invoice.voided", "billing", "An invoice was voided", "invoice", "void", CLOSES),
    Kind("dispute.opened", "billing", "A charge was disputed", "dispute", "open", OPENS, True),
    Kind("dispute.closed", "billing", "A dispute was settled", "dispute", "closed", CLOSES, True),
    Kind("subscription.created", "billing", "A subscription started", "subscription"),
    Kind("subscription.updated", "billing", "A subscription changed", "subscription"),
    Kind("subscription.cancelled", "billing", "A subscription ended", "subscription"),
    Kind("alert.raised", "rmm", "A monitoring alert fired", "alert", "firing", OPENS),
    Kind(
        "alert.updated",
        "rmm",
        "A monitoring alert was taken on or changed",
        "alert",
        "firing",
        UPDATES,
        True,
    ),
    Kind("alert.resolved", "rmm", "A monitoring alert cleared", "alert", "resolved", CLOSES),
    Kind("ticket.opened", "tickets", "A ticket was opened", "ticket", "open", OPENS, True),
    Kind("ticket.updated", "tickets", "A ticket changed", "ticket", "open", UPDATES, True),
    Kind("ticket.resolved", "tickets", "A ticket was solved", "ticket", "resolved", CLOSES),
    # A note or a time entry on a ticket: part of its thread, but it says
    # nothing of the ticket's state (time is often entered after it closed).
    Kind("ticket.noted", "tickets", "A note or time was logged on a ticket", "ticket"),
    Kind("campaign.sent", "marketing", "A campaign email was sent", "campaign"),
    Kind("email.delivered", "marketing", "A campaign email was delivered", "campaign"),
    Kind("email.opened", "marketing", "A campaign email was opened", "campaign"),
    Kind("email.clicked", "marketing", "A link in a campaign email was clicked", "campaign"),
    Kind("email.bounced", "marketing", "A campaign email bounced", "campaign"),
    Kind("email.subscribed", "marketing", "A contact subscribed to a mailing list", "campaign"),
    Kind("email.unsubscribed", "marketing", "A contact unsubscribed", "campaign"),
    Kind("email.spam_reported", "marketing", "A contact marked an email as spam", "campaign"),
    Kind("quote.sent", "sales", "A quote or opportunity is open", "deal", "open", OPENS, True),
    Kind("deal.won", "sales", "A deal was won", "deal", "won", CLOSES),
    Kind("deal.lost", "sales", "A deal was lost", "deal", "lost", CLOSES),
    Kind("renewal.due", "sales", "A contract renewal is coming up", "renewal", "due", OPENS),
    Kind("renewal.renewed", "sales", "A contract was renewed", "renewal", "renewed", CLOSES),
    Kind("renewal.cancelled", "sales", "A contract will not renew", "renewal", "cancelled", CLOSES),
    Kind("note", "manual", "A note by our staff", "conversation"),
    Kind("call", "manual", "A phone call with the client", "conversation"),
    Kind("meeting", "manual", "A meeting with the client", "conversation"),
    Kind("commitment.made", "manual", "We promised something", "commitment", "open", OPENS),
    Kind("commitment.done", "manual", "We kept a promise", "commitment", "done", CLOSES),
)

KINDS: dict[str, Kind] = {kind.name: kind for kind in _KINDS}

# The kind that opens each thread type that keeps a state: what a record
# implies happened when it says its object was created before the record
# itself (see connectors.lifecycle).
OPENING_KIND: dict[str, str] = {
    kind.thread: kind.name for kind in _KINDS if kind.stage == OPENS and kind.thread in ENTITY_TYPES
}


@functools.cache  # asked once per converted record
def kinds_of(source: str) -> tuple[str, ...]:
    return tuple(name for name, kind in KINDS.items() if kind.source == source)


def is_closed(entity_type: str, status: str) -> bool:
    return status in ENTITY_TYPES.get(entity_type, ())
