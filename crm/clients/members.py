"""A client's contacts and identities: set as a whole list, or one at a time.

Like crm.clients.operations, each function flushes and never commits. When a
change makes new hints resolve to the client (an identity, a new contact
email), `crm.signals.identities_mapped` is sent once with all of them.
"""

from collections.abc import Iterable, Mapping

from flask import current_app
from sqlalchemy import select, true, tuple_
from sqlalchemy.orm import Session

from crm.clients.errors import ClientInputError, IdentityTaken
from crm.identities import CASELESS_SYSTEMS, LINK_SYSTEMS, IdentityConflict, map_identity
from crm.models import Client, Contact, Identity
from crm.signals import identities_mapped


def set_contacts(
    session: Session, client: Client, contacts: Iterable[Mapping], *, started_by: str
) -> None:
    """Make the client's contacts exactly `contacts` ({id?, name, email, phone,
    role}); those with an `id` update that contact. Emails are stored lower-cased."""
    announce(replace_contacts(session, client, contacts), started_by)


def add_contact(session: Session, client: Client, data: Mapping, *, started_by: str) -> Contact:
    values = _contact_values(data, "contact")
    if values["email"] and values["email"] in {c.email for c in client.contacts}:
        raise ClientInputError("contact.email", f"{values['email']} is already a contact")
    contact = Contact(**values)
    client.contacts.append(contact)
    session.flush()
    announce([("email", contact.email)] if contact.email else [], started_by)
    return contact


def update_contact(
    session: Session, client: Client, contact_id: int, data: Mapping, *, started_by: str
) -> Contact:
    """Change the fields of one contact that `data` has."""
    contact = _own_contact(client, contact_id)
    values = _contact_values({"name": contact.name} | dict(data), "contact")
    old_email = contact.email
    for key in values:
        if key in data:
            setattr(contact, key, values[key])
    session.flush()
    new_email = contact.email if contact.email != old_email else None
    announce([("email", new_email)] if new_email else [], started_by)
    return contact


def remove_contact(session: Session, client: Client, contact_id: int) -> None:
    client.contacts.remove(_own_contact(client, contact_id))
    session.flush()


def set_identities(session: Session, client: Client, identities: Iterable, *, started_by: str):
    """Make the client's identities exactly `identities`: (system, key) pairs or
    {"system", "key"} mappings. One that names another client is refused with
    IdentityTaken before anything changes."""
    announce(replace_identities(session, client, identities), started_by)


def add_identities(session: Session, client: Client, identities: Iterable, *, started_by: str):
    """Map each (system, key) to the client, keeping the ones it has."""
    pairs = identity_pairs(identities)
    check_identities_free(session, client, pairs)
    announce(_map_pairs(session, client, pairs), started_by)


def remove_identity(session: Session, client: Client, system: str, key: str) -> None:
    """Unmap one identity; records it already resolved stay with the client."""
    (pair,) = identity_pairs([(system, key)])
    identity = next((i for i in client.identities if (i.system, i.external_key) == pair), None)
    if identity is None:
        raise ClientInputError("identities", f"{client.slug} has no identity {pair[0]} {pair[1]}")
    client.identities.remove(identity)
    session.flush()


def text_or_none(value) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


# --- helpers ----------------------------------------------------------------------


def replace_contacts(session: Session, client: Client, contacts: Iterable[Mapping]) -> list:
    """set_contacts without the signal; returns ("email", address) for new addresses."""
    existing = {contact.id: contact for contact in client.contacts}
    before = {contact.email for contact in client.contacts if contact.email}
    kept: list[Contact] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(contacts):
        values = _contact_values(item, f"contacts.{index}")
        email = values["email"]
        if email in seen:
            raise ClientInputError(
                f"contacts.{index}.email", f"{email} is listed twice (contact {seen[email] + 1})"
            )
        if email:
            seen[email] = index
        contact_id = item.get("id")
        if contact_id is None:
            contact = Contact(**values)
        else:
            contact = existing.get(contact_id)
            if contact is None:
                raise ClientInputError(
                    f"contacts.{index}.id", f"contact {contact_id} is not one of {client.slug}'s"
                )
            for key, value in values.items():
                setattr(contact, key, value)
        kept.append(contact)
    client.contacts = kept
    session.flush()
    return [("email", email) for email in seen if email not in before]


def replace_identities(session: Session, client: Client, identities: Iterable) -> list:
    """set_identities without the signal; returns the pairs that are new."""
    pairs = identity_pairs(identities)
    check_identities_free(session, client, pairs)
    for identity in list(client.identities):
        if identity.system in LINK_SYSTEMS:
            continue  # learnt from records, not listed on the form
        if (identity.system, identity.external_key) not in pairs:
            client.identities.remove(identity)
    session.flush()
    return _map_pairs(session, client, pairs)


def _map_pairs(session: Session, client: Client, pairs: dict) -> list[tuple[str, str]]:
    known = {(identity.system, identity.external_key) for identity in client.identities}
    for (system, key), index in pairs.items():
        try:
            map_identity(session, system, key, client)
        except IdentityConflict as conflict:  # taken since check_identities_free
            raise IdentityTaken(f"identities.{index}", str(conflict)) from None
    return [pair for pair in pairs if pair not in known]


def announce(pairs: list[tuple[str, str]], started_by: str) -> None:
    if pairs:
        identities_mapped.send(
            current_app._get_current_object(),
            pairs=list(dict.fromkeys(pairs)),
            started_by=started_by,
        )


def _contact_values(item: Mapping, where: str) -> dict:
    name = text_or_none(item.get("name"))
    if not name:
        raise ClientInputError(f"{where}.name", "is required")
    email = text_or_none(item.get("email"))
    if email:
        email = email.lower()
        local, at, domain = email.partition("@")
        if not (local and at and "." in domain) or " " in email:
            raise ClientInputError(f"{where}.email", f"{email!r} is not an email address")
    return {
        "name": name[:200],
        "email": email,
        "phone": text_or_none(item.get("phone")),
        "role": text_or_none(item.get("role")),
    }


def _own_contact(client: Client, contact_id: int) -> Contact:
    contact = next((c for c in client.contacts if c.id == contact_id), None)
    if contact is None:
        raise ClientInputError("contact", f"contact {contact_id} is not one of {client.slug}'s")
    return contact


def identity_pairs(identities: Iterable) -> dict[tuple[str, str], int]:
    """Normalised, de-duplicated (system, key) pairs, in the order given, each
    with its index in `identities` (for errors that name the item)."""
    pairs: dict[tuple[str, str], int] = {}
    for index, item in enumerate(identities):
        system, key = (item["system"], item["key"]) if isinstance(item, Mapping) else item
        system, key = (text_or_none(system) or "").lower(), text_or_none(key) or ""
        if not system:
            raise ClientInputError(f"identities.{index}.system", "is required")
        if not key:
            raise ClientInputError(f"identities.{index}.key", "is required")
        if len(system) > 40 or len(key) > 200:
            raise ClientInputError(
                f"identities.{index}", "system is at most 40 characters and key at most 200"
            )
        if system in CASELESS_SYSTEMS:
            key = key.lower()
        pairs.setdefault((system, key), index)
    return pairs


def check_identities_free(session: Session, client: Client | None, pairs: dict) -> None:
    """Refuse identities that already name another client, naming the first."""
    if not pairs:
        return
    taken = {
        (system, key): slug
        for system, key, slug in session.execute(
            select(Identity.system, Identity.external_key, Client.slug)
            .join(Client, Client.id == Identity.client_id)
            .where(tuple_(Identity.system, Identity.external_key).in_(list(pairs)))
            .where(Identity.client_id != client.id if client is not None else true())
        )
    }
    for pair, index in pairs.items():
        if pair in taken:
            raise IdentityTaken(
                f"identities.{index}",
                f"identity {pair[0]} {pair[1]} already belongs to {taken[pair]}",
            )
