"""Create and change clients: their fields, groups, contacts and identities.

Every function flushes and never commits, so the caller (a page, the API)
decides whether the whole change goes in. Input that the client cannot take
raises `ClientInputError` naming the field as a dotted path into the input
("slug", "contacts.1.email", "identities.0"), before anything conflicting
reaches the database; the caller rolls back and shows it.

Lists are set, not merged: `set_groups`, `set_contacts` and `set_identities`
make the client's list exactly the one given. Contacts given with their `id`
are updated in place, so a page or API client can edit one without losing it.

When a change makes new hints resolve to this client (an identity, a new
contact email, its slug), `crm.signals.identities_mapped` is sent once with
all of them, so that records waiting in the inbox for them can be replayed.
"""

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping

from flask import current_app
from sqlalchemy import func, select, true, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.identities import CASELESS_SYSTEMS, IdentityConflict, map_identity
from crm.models import Client, Contact, Group, Identity
from crm.signals import identities_mapped
from crm.vocabulary import CLIENT_STATUSES, GROUP_KINDS, TIERS

SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_MAX = 80
# /clients/new is the new-client page, so no client may be addressed by it.
RESERVED_SLUGS = frozenset({"new"})
# The fields of Client a caller may set, with what they default to on create.
CLIENT_FIELDS = {
    "slug": None,
    "name": None,
    "tier": "new",
    "industry": None,
    "country": None,
    "language": None,
    "timezone": "UTC",
    "account_manager": None,
    "customer_since": None,
    "status": "active",
    "notes": None,
}
LIST_FIELDS = ("groups", "contacts", "identities")
# The hint the resolver tries first: our own slug.
SLUG_SYSTEM = "touchline"


class ClientInputError(ValueError):
    """Input a client cannot take; `field` is a dotted path into the input."""

    status = 422

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DuplicateSlug(ClientInputError):
    status = 409


class IdentityTaken(ClientInputError):
    status = 409


def slugify(text: str) -> str:
    """ "Clínica São José, Lda." -> "clinica-sao-jose-lda" (at most SLUG_MAX characters)."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in folded).split()
    return "-".join(words)[:SLUG_MAX].strip("-")


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def all_timezones() -> list[str]:
    return sorted(_zone_names())


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone ("Europe/Lisbon", "UTC")."""
    return name in _zone_names()


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot address a client, or None."""
    if not SLUG_PATTERN.fullmatch(slug):
        return f"{slug!r} is not a slug: use lower-case letters, digits and single dashes"
    if len(slug) > SLUG_MAX:
        return f"is longer than {SLUG_MAX} characters"
    if slug in RESERVED_SLUGS:
        return f"{slug!r} is reserved (/clients/{slug} is a page of its own)"
    return None


def create_client(session: Session, data: Mapping, *, started_by: str) -> Client:
    """A new client from `data` (CLIENT_FIELDS plus optional groups, contacts,
    identities); the slug is derived from the name when not given."""
    _reject_unknown(data)
    name = _text(data.get("name"))
    if not name:
        raise ClientInputError("name", "is required")
    slug = _text(data.get("slug"))
    if not slug:
        slug = slugify(name)
        if not slug:
            raise ClientInputError("slug", f"cannot be made from the name {name!r}: give one")
    fields = {key: data.get(key, default) for key, default in CLIENT_FIELDS.items()}
    fields |= {"name": name, "slug": slug}
    fields = _checked_fields(session, fields, client=None)
    _check_identities_free(session, None, _identity_pairs(data.get("identities") or ()))

    client = Client(**fields)
    session.add(client)
    _flush_client(session, slug)
    new_hints = [(SLUG_SYSTEM, client.slug)]
    new_hints += _apply_lists(session, client, data)
    _announce(new_hints, started_by)
    return client


def update_client(session: Session, client: Client, data: Mapping, *, started_by: str) -> Client:
    """Change the fields and lists present in `data`; absent ones stay as they are.

    A changed slug keeps the old one resolving to the client through a
    `touchline` identity, so records and links that name it still find it.
    """
    _reject_unknown(data)
    fields = {key: data[key] for key in CLIENT_FIELDS if key in data}
    if "slug" in fields and not _text(fields["slug"]):
        del fields["slug"]  # a blank slug on edit means "keep it"
    if "name" in fields and not _text(fields["name"]):
        raise ClientInputError("name", "is required")
    for key in ("tier", "timezone", "status"):
        if key in fields and fields[key] is None:
            raise ClientInputError(key, "cannot be empty")
    fields = _checked_fields(session, fields, client=client)
    if "identities" in data:
        _check_identities_free(session, client, _identity_pairs(data["identities"] or ()))

    old_slug = client.slug
    for key, value in fields.items():
        setattr(client, key, value)
    _flush_client(session, client.slug)
    new_hints = _apply_lists(session, client, data)
    if client.slug != old_slug:
        map_identity(session, SLUG_SYSTEM, old_slug, client)
        new_hints.append((SLUG_SYSTEM, client.slug))
    _announce(new_hints, started_by)
    return client


def set_groups(session: Session, client: Client, groups: Iterable) -> None:
    """Make the client's groups exactly `groups`: (kind, name) pairs or
    {"kind", "name"} mappings; a group that does not exist yet is created.
    A name matches an existing group of its kind whatever its case."""
    chosen: list[Group] = []
    for index, group in enumerate(groups):
        kind, name = (group["kind"], group["name"]) if isinstance(group, Mapping) else group
        kind, name = (_text(kind) or "").lower(), _text(name) or ""
        if kind not in GROUP_KINDS:
            raise ClientInputError(
                f"groups.{index}.kind", f"{kind!r} is not one of {', '.join(GROUP_KINDS)}"
            )
        if not name or len(name) > 120:
            raise ClientInputError(f"groups.{index}.name", "must be 1 to 120 characters")
        found = _find_group(session, kind, name)
        if found not in chosen:
            chosen.append(found)
    client.groups = chosen
    session.flush()


def set_contacts(
    session: Session, client: Client, contacts: Iterable[Mapping], *, started_by: str
) -> None:
    """Make the client's contacts exactly `contacts` ({id?, name, email, phone,
    role}); those with an `id` update that contact. Emails are stored lower-cased."""
    _announce(_set_contacts(session, client, contacts), started_by)


def add_contact(session: Session, client: Client, data: Mapping, *, started_by: str) -> Contact:
    values = _contact_values(data, "contact")
    if values["email"] and values["email"] in {c.email for c in client.contacts}:
        raise ClientInputError("contact.email", f"{values['email']} is already a contact")
    contact = Contact(**values)
    client.contacts.append(contact)
    session.flush()
    _announce([("email", contact.email)] if contact.email else [], started_by)
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
    _announce([("email", new_email)] if new_email else [], started_by)
    return contact


def remove_contact(session: Session, client: Client, contact_id: int) -> None:
    client.contacts.remove(_own_contact(client, contact_id))
    session.flush()


def set_identities(session: Session, client: Client, identities: Iterable, *, started_by: str):
    """Make the client's identities exactly `identities`: (system, key) pairs or
    {"system", "key"} mappings. One that names another client is refused with
    IdentityTaken before anything changes."""
    _announce(_set_identities(session, client, identities), started_by)


def add_identities(session: Session, client: Client, identities: Iterable, *, started_by: str):
    """Map each (system, key) to the client, keeping the ones it has."""
    pairs = _identity_pairs(identities)
    _check_identities_free(session, client, pairs)
    _announce(_map_pairs(session, client, pairs), started_by)


def remove_identity(session: Session, client: Client, system: str, key: str) -> None:
    """Unmap one identity; records it already resolved stay with the client."""
    (pair,) = _identity_pairs([(system, key)])
    identity = next((i for i in client.identities if (i.system, i.external_key) == pair), None)
    if identity is None:
        raise ClientInputError("identities", f"{client.slug} has no identity {pair[0]} {pair[1]}")
    client.identities.remove(identity)
    session.flush()


# --- helpers ----------------------------------------------------------------------


def _reject_unknown(data: Mapping) -> None:
    for key in data:
        if key not in CLIENT_FIELDS and key not in LIST_FIELDS:
            raise ClientInputError(key, "is not a client field")


def _text(value) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _checked_fields(session: Session, fields: dict, client: Client | None) -> dict:
    """`fields` cleaned (blank text is None) and checked, or ClientInputError."""
    cleaned = {
        key: (_text(value) if isinstance(value, str) else value) for key, value in fields.items()
    }
    if "tier" in cleaned and cleaned["tier"] not in TIERS:
        raise ClientInputError(
            "tier", f"{cleaned['tier']!r} is not a tier: use one of {', '.join(TIERS)}"
        )
    if "status" in cleaned and cleaned["status"] not in CLIENT_STATUSES:
        raise ClientInputError(
            "status", f"{cleaned['status']!r} is not one of {', '.join(CLIENT_STATUSES)}"
        )
    if "timezone" in cleaned and not is_timezone(cleaned["timezone"] or ""):
        raise ClientInputError(
            "timezone", f"{cleaned['timezone']!r} is not an IANA time zone (e.g. Europe/Lisbon)"
        )
    if cleaned.get("country"):
        cleaned["country"] = cleaned["country"].upper()
        if not re.fullmatch(r"[A-Z]{2}", cleaned["country"]):
            raise ClientInputError("country", "use a two-letter ISO 3166 code, e.g. PT")
    for key, value in cleaned.items():
        limit = getattr(Client.__table__.c[key].type, "length", None)
        if isinstance(value, str) and limit and len(value) > limit:
            raise ClientInputError(key, f"is longer than {limit} characters")
    if "slug" in cleaned:
        slug = cleaned["slug"]
        problem = slug_problem(slug)
        if problem:
            raise ClientInputError("slug", problem)
        if client is None or slug != client.slug:
            owner = session.scalar(select(Client).where(Client.slug == slug))
            if owner is not None:
                raise DuplicateSlug("slug", f"{slug} is already the slug of {owner.name}")
    return cleaned


def _flush_client(session: Session, slug: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Another request took the slug between our check and this write.
        raise DuplicateSlug("slug", f"{slug} is already taken") from None


def _apply_lists(session: Session, client: Client, data: Mapping) -> list[tuple[str, str]]:
    """Apply the lists present in `data`; returns the hints that are new."""
    new_hints: list[tuple[str, str]] = []
    if "groups" in data:
        set_groups(session, client, data["groups"] or ())
    if "contacts" in data:
        new_hints += _set_contacts(session, client, data["contacts"] or ())
    if "identities" in data:
        new_hints += _set_identities(session, client, data["identities"] or ())
    return new_hints


def _set_contacts(session: Session, client: Client, contacts: Iterable[Mapping]) -> list:
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


def _set_identities(session: Session, client: Client, identities: Iterable) -> list:
    """set_identities without the signal; returns the pairs that are new."""
    pairs = _identity_pairs(identities)
    _check_identities_free(session, client, pairs)
    for identity in list(client.identities):
        if (identity.system, identity.external_key) not in pairs:
            client.identities.remove(identity)
    session.flush()
    return _map_pairs(session, client, pairs)


def _map_pairs(session: Session, client: Client, pairs: dict) -> list[tuple[str, str]]:
    known = {(identity.system, identity.external_key) for identity in client.identities}
    for (system, key), index in pairs.items():
        try:
            map_identity(session, system, key, client)
        except IdentityConflict as conflict:  # taken since _check_identities_free
            raise IdentityTaken(f"identities.{index}", str(conflict)) from None
    return [pair for pair in pairs if pair not in known]


def _announce(pairs: list[tuple[str, str]], started_by: str) -> None:
    if pairs:
        identities_mapped.send(
            current_app._get_current_object(),
            pairs=list(dict.fromkeys(pairs)),
            started_by=started_by,
        )


def _find_group(session: Session, kind: str, name: str) -> Group:
    group = session.scalar(
        select(Group)
        # The database lowers both sides: SQLite's lower() leaves "Ï" as it is,
        # Python's does not, and a name must always find itself (else the
        # insert below breaks the unique kind+name).
        .where(Group.kind == kind, func.lower(Group.name) == func.lower(name))
        .order_by(Group.id)
        .limit(1)
    )
    if group is None:
        group = Group(kind=kind, name=name)
        session.add(group)
        session.flush()
    return group


def _contact_values(item: Mapping, where: str) -> dict:
    name = _text(item.get("name"))
    if not name:
        raise ClientInputError(f"{where}.name", "is required")
    email = _text(item.get("email"))
    if email:
        email = email.lower()
        local, at, domain = email.partition("@")
        if not (local and at and "." in domain) or " " in email:
            raise ClientInputError(f"{where}.email", f"{email!r} is not an email address")
    return {
        "name": name[:200],
        "email": email,
        "phone": _text(item.get("phone")),
        "role": _text(item.get("role")),
    }


def _own_contact(client: Client, contact_id: int) -> Contact:
    contact = next((c for c in client.contacts if c.id == contact_id), None)
    if contact is None:
        raise ClientInputError("contact", f"contact {contact_id} is not one of {client.slug}'s")
    return contact


def _identity_pairs(identities: Iterable) -> dict[tuple[str, str], int]:
    """Normalised, de-duplicated (system, key) pairs, in the order given, each
    with its index in `identities` (for errors that name the item)."""
    pairs: dict[tuple[str, str], int] = {}
    for index, item in enumerate(identities):
        system, key = (item["system"], item["key"]) if isinstance(item, Mapping) else item
        system, key = (_text(system) or "").lower(), _text(key) or ""
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


def _check_identities_free(session: Session, client: Client | None, pairs: dict) -> None:
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
