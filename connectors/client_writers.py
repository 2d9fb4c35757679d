"""Where client profiles and identity claims meet the database.

ClientWriter creates or updates clients by slug, with their groups,
contacts and identities; IdentityWriter registers the aliases of a claim for
the client its hints find. Both answer with an Outcome per record, as every
writer does (connectors.writers), and collect the hints their writes make
resolvable. Flushes; the pipeline commits.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import CLIENT_FIELDS, ClientProfile, IdentityClaim
from connectors.writers import ACCEPTED, Outcome, Writer, register_aliases
from crm.identities import IdentityConflict, map_identity
from crm.models import Client, Contact, Group


class IdentityWriter(Writer):
    """Resolves identity claims and registers their aliases for the client."""

    def write(self, items: list[tuple[int, list[IdentityClaim]]]) -> dict[int, Outcome]:
        self.resolver.prefetch(claim.hints for _, claims in items for claim in claims)
        outcomes = {}
        for index, claims in items:
            outcome = ACCEPTED
            for claim in claims:
                client_id = self.resolver.resolve(claim.hints)
                if client_id is None:
                    reason = f"no client found for {claim.hints.describe()}"
                    outcome = Outcome("unmatched", reason, hints=claim.hints.pairs())
                    break
                fresh = register_aliases(
                    self.session, self.resolver, dict.fromkeys(claim.aliases, client_id)
                )
                self.new_hints.update(fresh)
                if not fresh:
                    names = ", ".join(f"{s} {k}" for s, k in claim.aliases)
                    outcome = Outcome("duplicate", f"identities already known: {names}")
            outcomes[index] = outcome
        return outcomes


class ClientWriter(Writer):
    """Creates or updates clients by slug, with groups, contacts and identities."""

    def __init__(self, session: Session):
        super().__init__(session)
        self._groups: dict[tuple[str, str], Group] = {}

    def write(self, items: list[tuple[int, list[ClientProfile]]]) -> dict[int, Outcome]:
        outcomes = {}
        for index, profiles in items:
            for profile in profiles:
                savepoint = self.session.begin_nested()
                try:
                    changed = self._write(profile)
                except IdentityConflict as conflict:
                    savepoint.rollback()
                    outcomes[index] = Outcome("rejected", f"identities {conflict}", "identities")
                    break
                savepoint.commit()
                outcomes[index] = (
                    Outcome("accepted")
                    if changed
                    else Outcome("duplicate", f"client {profile.slug} is already up to date")
                )
        return outcomes

    def _write(self, profile: ClientProfile) -> bool:
        client = self.session.scalar(select(Client).where(Client.slug == profile.slug))
        created = client is None
        if created:
            client = Client(slug=profile.slug)
            self.session.add(client)
            self.new_hints.add(("touchline", profile.slug))
        changed = created
        for name in CLIENT_FIELDS:
            value = getattr(profile, name)
            if getattr(client, name) != value:
                setattr(client, name, value)
                changed = True
        for kind, name in profile.groups:
            group = self._group(kind, name)
            if group not in client.groups:
                client.groups.append(group)
                changed = True
        changed |= self._merge_contacts(client, profile)
        self.session.flush()
        for system, key in profile.identities:
            known = {(i.system, i.external_key) for i in client.identities}
            identity = map_identity(self.session, system, key, client)
            if (identity.system, identity.external_key) not in known:
                changed = True
                self.new_hints.add((identity.system, identity.external_key))
        return changed

    def _merge_contacts(self, client: Client, profile: ClientProfile) -> bool:
        """Add or update contacts, matched by email, else by name; never delete."""
        changed = False
        for person in profile.contacts:
            email = person.email.lower() if person.email else None
            match = next(
                (
                    c
                    for c in client.contacts
                    if (email and c.email == email) or (not email and c.name == person.name)
                ),
                None,
            )
            if match is None:
                match = Contact(name=person.name, email=email)
                client.contacts.append(match)
                changed = True
                if email:
                    self.new_hints.update({("email", email), ("domain", email.rpartition("@")[2])})
            for name in ("name", "phone", "role"):
                if getattr(match, name) != getattr(person, name):
                    setattr(match, name, getattr(person, name))
                    changed = True
        return changed

    def _group(self, kind: str, name: str) -> Group:
        if (kind, name) not in self._groups:
            group = self.session.scalar(select(Group).where(Group.kind == kind, Group.name == name))
            if group is None:
                group = Group(kind=kind, name=name)
                self.session.add(group)
            self._groups[(kind, name)] = group
        return self._groups[(kind, name)]
