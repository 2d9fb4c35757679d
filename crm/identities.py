"""Find which client a record belongs to, and teach Touchline new identities.

A record names its client the way its own system does: a Stripe customer id,
a Zendesk organization, a contact's email. Resolution tries, in order: our own
slug, the identity table, a contact's exact email, then identities mapped for
the email itself or its domain (systems `email` and `domain`). A record none
of these find is `unmatched` and waits in the inbox until someone maps one of
its hints to a client.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.database import chunks, rows_with_keys
from crm.models import Client, Contact, Identity


@dataclass(frozen=True, slots=True)
class ClientHints:
    """Everything a record says about whose it is."""

    slug: str | None = None
    identities: tuple[tuple[str, str], ...] = ()
    emails: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "emails", tuple(e.strip().lower() for e in self.emails if e))

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(email.rpartition("@")[2] for email in self.emails if "@" in email)

    def pairs(self) -> list[tuple[str, str]]:
        """Every hint as (system, key), the way the inbox indexes them."""
        pairs = [("touchline", self.slug)] if self.slug else []
        pairs += list(self.identities)
        pairs += [("email", email) for email in self.emails]
        pairs += [("domain", domain) for domain in self.domains]
        return pairs

    def describe(self) -> str:
        return ", ".join(f"{system} {key}" for system, key in self.pairs()) or "no client hint"

    def __bool__(self) -> bool:
        return bool(self.slug or self.identities or self.emails)


_UNRESOLVED = object()

# Systems whose keys each name one object (a charge, an invoice, a ticket),
# not a client: learnt from the record that ties the object to its client,
# so that others naming only it find their client. There is one per object,
# thousands per client: a client's edit form neither lists nor replaces them.
LINK_SYSTEMS: set[str] = set()


def link_system(name: str) -> str:
    """Declare `name` a link system (connectors do, for the ids they teach)."""
    LINK_SYSTEMS.add(name)
    return name


# Systems whose keys are case-insensitive, stored lower-cased: mail domains
# and addresses, and devices' hosts (crm.devices).
CASELESS_SYSTEMS = ("domain", "email", "host")


class ClientResolver:
    """Resolves hints to client ids, looking each hint up at most once.

    `prefetch` loads the hints of a whole batch in a few queries, so resolving
    a batch costs a handful of round trips, not one per record. Each distinct
    ClientHints is resolved once: a file names the same few clients again and
    again, and resolving costs several lookups.
    """

    def __init__(self, session: Session):
        self.session = session
        self._slugs: dict[str, int | None] = {}
        self._identities: dict[tuple[str, str], int | None] = {}
        self._emails: dict[str, int | None] = {}
        self._resolved: dict[ClientHints, int | None] = {}

    def prefetch(self, all_hints: Iterable[ClientHints]) -> None:
        slugs, pairs, emails = set(), set(), set()
        for hints in all_hints:
            if hints in self._resolved:
                continue
            if hints.slug:
                slugs.add(hints.slug)
            pairs.update(hints.pairs())
            emails.update(hints.emails)
        # Membership tests, not `set - dict.keys()`: that builds a set of the
        # whole cache each call, which grows with every hint of the run.
        self._load_slugs({slug for slug in slugs if slug not in self._slugs})
        self._load_identities({pair for pair in pairs if pair not in self._identities})
        self._load_emails({email for email in emails if email not in self._emails})

    def forget(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Drop what is cached about these identities, which were just added."""
        for pair in pairs:
            self._identities.pop(pair, None)
        self._resolved.clear()

    def resolve(self, hints: ClientHints) -> int | None:
        """Our slug, then the identity table, then contacts' emails, then any
        identity mapped by hand for one of the hints (an email, a domain, an
        old slug), in the order `ClientHints.pairs` lists them."""
        client_id = self._resolved.get(hints, _UNRESOLVED)
        if client_id is _UNRESOLVED:
            client_id = self._resolved[hints] = self._resolve(hints)
        return client_id

    def _resolve(self, hints: ClientHints) -> int | None:
        self.prefetch([hints])
        if hints.slug and self._slugs[hints.slug]:
            return self._slugs[hints.slug]
        for pair in hints.identities:
            if self._identities[pair]:
                return self._identities[pair]
        for email in hints.emails:
            if self._emails[email]:
                return self._emails[email]
        for pair in hints.pairs():
            if self._identities[pair]:
                return self._identities[pair]
        return None

    def _load_slugs(self, slugs: set[str]) -> None:
        self._slugs.update(dict.fromkeys(slugs))
        for chunk in chunks(sorted(slugs)):
            rows = self.session.execute(
                select(Client.slug, Client.id).where(Client.slug.in_(chunk))
            )
            self._slugs.update(dict(rows.all()))

    def _load_identities(self, pairs: set[tuple[str, str]]) -> None:
        self._identities.update(dict.fromkeys(pairs))
        rows = rows_with_keys(
            self.session,
            Identity.__table__,
            ("system", "external_key", "client_id"),
            ("system", "external_key"),
            pairs,
        )
        self._identities.update({(system, key): cid for system, key, cid in rows})

    def _load_emails(self, emails: set[str]) -> None:
        self._emails.update(dict.fromkeys(emails))
        for chunk in chunks(sorted(emails)):
            rows = self.session.execute(
                select(Contact.email, func.min(Contact.client_id))
                .where(Contact.email.in_(chunk))
                .group_by(Contact.email)
            )
            self._emails.update(dict(rows.all()))


class IdentityConflict(ValueError):
    """The identity already names another client."""


def map_identity(session: Session, system: str, key: str, client: Client) -> Identity:
    """Record that `system` calls `client` by `key`; flushes, never commits.

    Mapping the same identity to the same client again is a no-op; mapping it
    to a different client is refused, since records already resolved through
    it would silently change owner.
    """
    system, key = system.strip().lower(), key.strip()
    if system in CASELESS_SYSTEMS:
        key = key.lower()
    existing = session.scalar(
        select(Identity).where(Identity.system == system, Identity.external_key == key)
    )
    if existing is not None:
        if existing.client_id != client.id:
            raise IdentityConflict(
                f"identity {system} {key} already belongs to {existing.client.slug}"
            )
        return existing
    identity = Identity(system=system, external_key=key, client=client)
    session.add(identity)
    session.flush()
    return identity
