"""The audit log: what its actions mean, reading it back a page at a time, and
what a change to a client adds to it.

Entries are written with crm.accounts.operations.audit where the thing
happens (the views); this module decides nothing about who may read them.
"""

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm.accounts.models import AuditEntry
from crm.accounts.operations import audit
from crm.models import Client
from crm.paging import Page, page_of

# action -> what it records (the audit page offers these as its filter).
ACTIONS = {
    "user.sign_in": "signed in",
    "user.create": "created an account",
    "user.roles": "changed an account's roles",
    "user.deactivate": "deactivated an account",
    "user.activate": "activated an account",
    "user.password": "set an account's password",
    "user.preferences": "set when e-mail reaches them",
    "user.mail": "chose which e-mail they receive",
    "token.create": "made an API token",
    "token.revoke": "revoked an API token",
    "briefing.view": "viewed a client's briefing",
    "briefing.download": "downloaded a client's briefing as PDF",
    "briefing.batch": "downloaded a client's briefing in a batch",
    "portfolio.export": "downloaded the portfolio report",
    "client.create": "created a client",
    "client.tier": "changed a client's tier",
    "client.manager": "changed a client's account manager",
    "identity.map": "mapped an identity to a client",
    "identity.unmap": "removed an identity from a client",
    "inbox.replay": "replayed an inbox record",
    "ingest.file": "ingested a file",
    "touch.log": "logged a touch (note, call or meeting)",
    "commitment.make": "made a commitment to a client",
    "commitment.done": "marked a commitment done",
    "meeting.create": "planned a meeting",
    "meeting.update": "updated a planned meeting from its calendar",
    "meeting.log": "logged a held meeting",
    "meeting.cancel": "cancelled a planned meeting from its calendar",
    "connection.create": "added a connection",
    "connection.test": "tested a connection",
    "connection.pause": "paused a connection",
    "connection.resume": "resumed a connection",
    "connection.sync": "synced a connection now",
    "connection.delete": "deleted a connection",
    "connection.connect": "authorized a connection with the vendor (OAuth)",
    "connection.token_refresh": "refreshed a connection's OAuth token",
    "connection.rotate_key": "encrypted the connections' credentials under a new key",
}


def audit_page(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    client: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[AuditEntry]:
    """Entries newest first. `action` matches exactly, or a family ("user"
    for every user.* action); `actor` is part of an email; `client` a slug."""
    query = select(AuditEntry)
    if action:
        query = query.where(
            or_(AuditEntry.action == action, AuditEntry.action.startswith(action + "."))
        )
    if actor:
        query = query.where(AuditEntry.actor_email.contains(actor.strip().lower(), autoescape=True))
    if client:
        query = query.where(AuditEntry.target_type == "client", AuditEntry.target == client.strip())
    return page_of(
        session, query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), page, per_page
    )


# --- changes to a client ------------------------------------------------------------------


@dataclass(frozen=True)
class ClientState:
    """What the audit log follows of a client: its tier and identities."""

    tier: str | None
    identities: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, client: Client | None) -> "ClientState":
        if client is None:
            return cls(None, frozenset())
        return cls(client.tier, frozenset((i.system, i.external_key) for i in client.identities))


def audit_client_change(session: Session, before: ClientState, client: Client, via: str) -> None:
    """Record a created client, a changed tier and the identities mapped or
    removed, comparing the client now with `before` (flushed, not committed)."""
    after = ClientState.of(client)
    if before.tier is None:
        audit(session, "client.create", "client", client.slug, {"tier": after.tier, "via": via})
    elif before.tier != after.tier:
        change = {"from": before.tier, "to": after.tier, "via": via}
        audit(session, "client.tier", "client", client.slug, change)
    for action, pairs in (
        ("identity.map", after.identities - before.identities),
        ("identity.unmap", before.identities - after.identities),
    ):
        for system, key in sorted(pairs):
            audit(
                session, action, "client", client.slug, {"system": system, "key": key, "via": via}
            )
