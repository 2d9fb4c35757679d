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

import re
import unicodedata
from collections.abc import Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.clients.errors import ClientInputError, DuplicateSlug
from crm.clients.managers import assign_manager, chosen_manager
from crm.clients.members import (
    announce,
    check_identities_free,
    identity_pairs,
    replace_contacts,
    replace_identities,
    text_or_none,
)
from crm.clients.timezones import all_timezones, is_timezone  # noqa: F401 - theirs
from crm.identities import map_identity
from crm.models import Client, Group
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
    "customer_since": None,
    "status": "active",
    "notes": None,
}
LIST_FIELDS = ("groups", "contacts", "identities")
# The account manager: an active account by id, or by its address or name
# (crm.clients.managers); either may be None (nobody).
MANAGER_FIELDS = ("account_manager_id", "account_manager")
# The hint the resolver tries first: our own slug.
SLUG_SYSTEM = "touchline"


def slugify(text: str) -> str:
    """ "Clínica São José, Lda." -> "clinica-sao-jose-lda" (at most SLUG_MAX characters)."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in folded).split()
    return "-".join(words)[:SLUG_MAX].strip("-")


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
    name = text_or_none(data.get("name"))
    if not name:
        raise ClientInputError("name", "is required")
    slug = text_or_none(data.get("slug"))
    if not slug:
        slug = slugify(name)
        if not slug:
            raise ClientInputError("slug", f"cannot be made from the name {name!r}: give one")
    fields = {key: data.get(key, default) for key, default in CLIENT_FIELDS.items()}
    fields |= {"name": name, "slug": slug}
    fields = _checked_fields(session, fields, client=None)
    check_identities_free(session, None, identity_pairs(data.get("identities") or ()))
    manager = _chosen_manager(session, data)

    client = Client(**fields)
    session.add(client)
    _flush_client(session, slug)
    if manager is not None:
        assign_manager(session, client, manager[0], via=started_by)
    new_hints = [(SLUG_SYSTEM, client.slug)]
    new_hints += _apply_lists(session, client, data)
    announce(new_hints, started_by)
    return client


def update_client(session: Session, client: Client, data: Mapping, *, started_by: str) -> Client:
    """Change the fields and lists present in `data`; absent ones stay as they are.

    A changed slug keeps the old one resolving to the client through a
    `touchline` identity, so records and links that name it still find it.
    """
    _reject_unknown(data)
    fields = {key: data[key] for key in CLIENT_FIELDS if key in data}
    if "slug" in fields and not text_or_none(fields["slug"]):
        del fields["slug"]  # a blank slug on edit means "keep it"
    if "name" in fields and not text_or_none(fields["name"]):
        raise ClientInputError("name", "is required")
    for key in ("tier", "timezone", "status"):
        if key in fields and fields[key] is None:
            raise ClientInputError(key, "cannot be empty")
    fields = _checked_fields(session, fields, client=client)
    if "identities" in data:
        check_identities_free(session, client, identity_pairs(data["identities"] or ()))
    manager = _chosen_manager(session, data)

    old_slug = client.slug
    for key, value in fields.items():
        setattr(client, key, value)
    _flush_client(session, client.slug)
    if manager is not None:
        assign_manager(session, client, manager[0], via=started_by)
    new_hints = _apply_lists(session, client, data)
    if client.slug != old_slug:
        map_identity(session, SLUG_SYSTEM, old_slug, client)
        new_hints.append((SLUG_SYSTEM, client.slug))
    announce(new_hints, started_by)
    return client


def set_groups(session: Session, client: Client, groups: Iterable) -> None:
    """Make the client's groups exactly `groups`: (kind, name) pairs or
    {"kind", "name"} mappings; a group that does not exist yet is created.
    A name matches an existing group of its kind whatever its case."""
    chosen: list[Group] = []
    for index, group in enumerate(groups):
        kind, name = (group["kind"], group["name"]) if isinstance(group, Mapping) else group
        kind, name = (text_or_none(kind) or "").lower(), text_or_none(name) or ""
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


# --- helpers ----------------------------------------------------------------------


def _reject_unknown(data: Mapping) -> None:
    for key in data:
        if key not in CLIENT_FIELDS and key not in LIST_FIELDS and key not in MANAGER_FIELDS:
            raise ClientInputError(key, "is not a client field")


def _chosen_manager(session: Session, data: Mapping) -> tuple | None:
    """(the account chosen, or None for nobody) when `data` names a manager;
    None when it leaves the manager as it is."""
    if "account_manager_id" in data:
        return (chosen_manager(session, "account_manager_id", user_id=data["account_manager_id"]),)
    if "account_manager" in data:
        return (chosen_manager(session, "account_manager", text=data["account_manager"]),)
    return None


def _checked_fields(session: Session, fields: dict, client: Client | None) -> dict:
    """`fields` cleaned (blank text is None) and checked, or ClientInputError."""
    cleaned = {
        key: (text_or_none(value) if isinstance(value, str) else value)
        for key, value in fields.items()
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
        new_hints += replace_contacts(session, client, data["contacts"] or ())
    if "identities" in data:
        new_hints += replace_identities(session, client, data["identities"] or ())
    return new_hints


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
