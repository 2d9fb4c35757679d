"""The directory's filters and order (DirectoryFilters) and the conditions
they put on `clients` (conditions), shared by the page and the API.

A client **has open flags** when, at `now`, any of its threads raises one,
or an alert of its keeps coming back, by the one definition of crm.flags.
"Managed by" is the client's manager's account (crm.clients.managers):
the directory's "my clients" is the signed-in account's; `account_manager`
still matches the manager's name, matched or not, case aside.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select, union

from crm import flags as rules
from crm.clients.managers import managed_by, managed_by_name
from crm.flags import FlagSettings
from crm.meetings import cadence as meeting_cadence
from crm.models import Client, Entity, Group, client_groups

SORTS = ("name", "last_touch", "last_contact", "health", "open_tickets", "overdue", "mrr")
DIRECTIONS = ("asc", "desc")
# Clicking a column header sorts names A-Z but numbers and dates biggest first.
DEFAULT_DIRECTION = {
    "name": "asc",
    "last_touch": "desc",
    "last_contact": "desc",
    "health": "asc",  # the clients in the worst state first
    "open_tickets": "desc",
    "overdue": "desc",
    "mrr": "desc",
}
PER_PAGE = 50


class BadGroupSelector(ValueError):
    pass


# Group ids are INTEGER columns: a bigger number is no group, and no query gets it.
LARGEST_ID = 2**31 - 1


def parse_group_selector(text: str) -> int | tuple[str, str]:
    """ "12" -> 12; "industry:Dental" (or "industry: Dental") -> ("industry", "Dental")."""
    text = text.strip()
    if text.isascii() and text.isdigit():  # "²" and "٣" are digits to isdigit(), not to int()
        if len(text) > 10 or int(text) > LARGEST_ID:
            raise BadGroupSelector(f"is too large for a group id (they go up to {LARGEST_ID})")
        return int(text)
    kind, colon, name = text.partition(":")
    if not colon or not kind.strip() or not name.strip():
        raise BadGroupSelector(f"{text!r} is neither a group id nor kind:name")
    return kind.strip().lower(), name.strip()


@dataclass(frozen=True)
class DirectoryFilters:
    """What the directory shows and in which order; every field is optional."""

    q: str | None = None
    tiers: tuple[str, ...] = ()
    group: str | None = None  # a group id or "kind:name"
    account_manager: str | None = None  # the manager's name, case aside
    manager_id: int | None = None  # the manager's account ("my clients": one's own)
    flagged: bool | None = None  # True: only flagged clients; False: only the others
    status: str | None = None
    meeting_overdue: bool | None = None  # crm.meetings.cadence; False: the others
    sort: str = "name"
    direction: str | None = None  # None: the column's DEFAULT_DIRECTION
    page: int = 1
    per_page: int = PER_PAGE

    def __post_init__(self):
        if self.sort not in SORTS:
            raise ValueError(f"sort {self.sort!r} is not one of {', '.join(SORTS)}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction {self.direction!r} is not asc or desc")

    @property
    def order(self) -> str:
        return self.direction or DEFAULT_DIRECTION[self.sort]


def _flagged_clients(now: datetime, settings: FlagSettings):
    """The ids of the clients with open flags.

    One query per flagged thread type and one for the recurring alerts, each
    asked client by client: each client's open entities of a type are a seek
    in ix_entities_open (`client_id IN (every client)`, which both engines
    then walk client by client, instead of reading every entity), and its
    last 30 days one range of the events' timeline index (a correlated
    EXISTS: a window of the whole portfolio's events is no range of it).
    """
    threads = (
        select(Entity.client_id).where(
            Entity.client_id.in_(select(Client.id)), rules.rule_sql(thread_type, now, settings)
        )
        for thread_type in rules.FLAGGED_TYPES
    )
    recurring = select(Client.id).where(rules.recurs_sql(Client.id, now))
    return union(*threads, recurring)


def conditions(
    filters: DirectoryFilters, now: datetime, settings: FlagSettings, cadence: Mapping[str, int]
) -> list:
    conditions = []
    if filters.q and filters.q.strip():
        needle = filters.q.strip().lower()
        conditions.append(
            or_(
                func.lower(Client.name).contains(needle, autoescape=True),
                Client.slug.contains(needle, autoescape=True),
            )
        )
    if filters.tiers:
        conditions.append(Client.tier.in_(filters.tiers))
    if filters.status:
        conditions.append(Client.status == filters.status)
    if filters.account_manager and filters.account_manager.strip():
        conditions.append(managed_by_name(filters.account_manager))
    if filters.manager_id is not None:
        conditions.append(managed_by(filters.manager_id))
    if filters.group:
        conditions.append(_in_group(parse_group_selector(filters.group)))
    if filters.flagged is not None:
        in_flagged = Client.id.in_(_flagged_clients(now, settings))
        conditions.append(in_flagged if filters.flagged else ~in_flagged)
    if filters.meeting_overdue is not None:
        overdue = meeting_cadence.overdue_sql(now, cadence)
        conditions.append(overdue if filters.meeting_overdue else ~overdue)
    return conditions


def _in_group(selector: int | tuple[str, str]):
    if isinstance(selector, int):
        matches = client_groups.c.group_id == selector
    else:
        kind, name = selector
        matches = client_groups.c.group_id.in_(
            select(Group.id).where(Group.kind == kind, func.lower(Group.name) == name.lower())
        )
    return exists().where(client_groups.c.client_id == Client.id, matches)
