"""The `zendesk` connector: tickets as the Zendesk API and its webhooks send them.

Takes a ticket object, a show/create response (`{"ticket": {...}}`), a list
or incremental export (`{"tickets": [...]}`, with side-loaded `users` giving
requester emails), a trigger webhook whose body carries a `ticket` object, and
the event webhooks' `{"type": "zen:event-type:ticket.*", "detail": {...}}`.

A ticket says how it stands *now*, so each (ticket id, updated_at) is one
event: re-sending the same version is a duplicate, every change a new fact.
It also says when it was created (`created_at`) and, with the ticket metrics
side-loaded (`include=metric_sets`, or a `metric_set` or `solved_at` on the
ticket), when it was solved: a ticket first seen through a later update still
opens at `created_at` and closes at `solved_at` (connectors.lifecycle). The
implied events have the ids the real ones would have had (`ID@created_at`,
`ID@solved_at`), so seeing both the creation and a later snapshot gives one
opening.
The organization is the client key (identity system `zendesk`); the requester
comes along as a second hint (`zendesk-user`, and their email and organization
when side-loaded with `include=users`), so a ticket without an organization
waits as unmatched instead of failing. Three records tie a requester to a
client, and so place the tickets waiting on them: a ticket that names both its
organization and its requester, a user (`{"user": ...}`, `{"users": [...]}`)
with an organization or an email we know, and an organization record, which
registers its id and `domain_names` for the client it resolves to (by either);
until then each waits as unmatched.
"""

import re
from collections.abc import Iterator

from marshmallow import fields, pre_load

from connectors.base import CanonicalEvent, Connector, IdentityClaim, RecordError
from connectors.fields import REQUIRED, KnownFieldsSchema
from connectors.lifecycle import Moment, implied
from connectors.readers import Record, unwrapped
from connectors.registry import register
from connectors.zendesk_audits import TICKET_SYSTEM, ticket_event_events
from connectors.zendesk_fields import (
    REQUESTER_SYSTEM,
    Time,
    ZendeskId,
    kind_of,
    version_id,
)
from crm.identities import ClientHints

API_URL = re.compile(r"^(https?://[^/]+)/api/v2/tickets/(\d+)(?:\.json)?")
AGENT_URL = re.compile(r"^(?:https?://)?([^/]+/agent/tickets/\d+)")
STAND_INS = "_touchline_stand_ins"


class TicketSchema(KnownFieldsSchema):
    id = ZendeskId(required=True, error_messages=REQUIRED)
    status = fields.String(required=True, error_messages=REQUIRED)
    created_at = Time(required=True, error_messages=REQUIRED)
    updated_at = Time(required=True, error_messages=REQUIRED)
    subject = fields.String(load_default=None, allow_none=True)
    description = fields.String(load_default=None, allow_none=True)
    url = fields.String(load_default=None, allow_none=True)
    priority = fields.String(load_default=None, allow_none=True)
    type = fields.String(load_default=None, allow_none=True)
    organization_id = ZendeskId(load_default=None, allow_none=True)
    requester_id = ZendeskId(load_default=None, allow_none=True)
    assignee_id = ZendeskId(load_default=None, allow_none=True)
    group_id = ZendeskId(load_default=None, allow_none=True)
    due_at = Time(load_default=None, allow_none=True)
    via = fields.Raw(load_default=None, allow_none=True)
    tags = fields.Raw(load_default=list, allow_none=True)
    requester = fields.Raw(load_default=None, allow_none=True)
    solved_at = Time(load_default=None, allow_none=True)
    # What tidy stood in for a missing field with (see there).
    stand_ins = fields.Raw(data_key=STAND_INS, load_default=None, allow_none=True)

    @pre_load
    def tidy(self, data, **kwargs):
        """Webhooks write "Open" or "OPEN" and "" for nothing; the API "open"
        and null. Read both the same."""
        data = {k: (None if v == "" else v) for k, v in data.items()}
        for name in ("status", "priority", "type"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip().lower()
        if isinstance(data.get("tags"), str):  # {{ticket.tags}}: space-separated
            data["tags"] = data["tags"].split()
        metrics = data.get("metric_set")
        if data.get("solved_at") is None and isinstance(metrics, dict):
            data["solved_at"] = metrics.get("solved_at")
        # A trigger's body may leave out the creation time: the version it
        # sends is then the earliest the ticket is known by (an update's time
        # cannot stand in the other way: it is the version's identity).
        if data.get("created_at") is None and data.get("updated_at") is not None:
            data["created_at"] = data["updated_at"]
            data[STAND_INS] = {"created_at": "updated_at"}
        return data


@register
class ZendeskConnector(Connector):
    """Zendesk tickets, and organizations as claims on their id and domains."""

    name = "zendesk"
    natural_key = ("id", "updated_at")
    schema = TicketSchema

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """Unwrap API responses and webhook bodies into one record per ticket."""
        return unwrapped(super().parse(content, filename), _unwrap, _locator)

    def schema_applies(self, data: dict) -> bool:
        """Organizations and users are not tickets: convert reads them as
        identity claims."""
        return not (_is_organization(data) or _is_user(data) or _is_ticket_event(data))

    def key_of(self, data: dict) -> str:
        if _is_organization(data):
            return f"organization:{data['organization'].get('id', '')}"
        if _is_user(data):
            return f"user:{data['user'].get('id', '')}"
        if _is_ticket_event(data):
            return f"ticket_event:{data['ticket_event'].get('id', '')}"
        return super().key_of(data)

    def convert(self, data: dict) -> list[CanonicalEvent | IdentityClaim]:
        if _is_organization(data):
            return [_organization_claim(data["organization"])]
        if _is_user(data):
            return [_user_claim(data["user"])]
        if _is_ticket_event(data):
            return ticket_event_events(data["ticket_event"])
        ticket_id, status = data["id"], data["status"]
        # Zendesk's clocks may stamp a new ticket's update a second before
        # its creation: a version at or before the creation is it.
        kind = kind_of(ticket_id, status, creation=data["updated_at"] <= data["created_at"])
        updated = max(data["updated_at"], data["created_at"])
        via = data["via"] if isinstance(data["via"], dict) else {"channel": data["via"]}
        tags = data["tags"] if isinstance(data["tags"], list) else []
        event = CanonicalEvent(
            origin=self.name,
            external_id=version_id(ticket_id, updated),
            kind=kind,
            occurred_at=updated,
            hints=_hints(data),
            title=(data["subject"] or f"Zendesk ticket #{ticket_id}")[:500],
            detail=data["description"] if kind == "ticket.opened" else f"Status {status}",
            thread_key=ticket_id,
            url=_agent_url(data["url"]),
            attributes={
                "zendesk_status": status,
                **({"inferred": data["stand_ins"]} if isinstance(data["stand_ins"], dict) else {}),
                "channel": via.get("channel"),
                "tags": [str(tag) for tag in tags],
                "organization_id": data["organization_id"],
                "requester_id": data["requester_id"],
                "group_id": data["group_id"],
            },
            status=status if kind != "ticket.resolved" else None,
            due_at=data["due_at"],
            priority=_clip(data["priority"], 32),
            category=_clip(data["type"], 80),
            assignee=data["assignee_id"],
            # The ticket's id finds its client for its ticket events, which
            # name nothing else. A requester who opens a ticket for their
            # organization belongs to its client: their tickets without one
            # then go there too.
            aliases=((TICKET_SYSTEM, ticket_id),)
            + (
                ((REQUESTER_SYSTEM, data["requester_id"]),)
                if data["organization_id"] and data["requester_id"]
                else ()
            ),
        )
        created, solved = data["created_at"], data["solved_at"]
        return implied(
            event,
            opened=Moment(
                created, version_id(ticket_id, created), "new", detail=data["description"]
            ),
            closed=(
                Moment(solved, version_id(ticket_id, solved), detail="Status solved")
                if solved is not None and kind == "ticket.resolved"
                else None
            ),
        )


def _unwrap(document: dict) -> list[tuple[str, dict]]:
    """(locator suffix, record) for each ticket or organization in a document."""
    users = _users_by_id(document.get("users"))
    metrics = _metrics_by_ticket(document.get("metric_sets"))
    for many in TICKET_EVENTS:
        if isinstance(document.get(many), list):
            return [(f"{many}[{i}]", _ticket_event(e)) for i, e in enumerate(document[many])]
    if isinstance(document.get("tickets"), list):
        found = [(f"tickets[{i}]", t) for i, t in enumerate(document["tickets"])]
    elif isinstance(document.get("ticket"), dict):
        found = [("ticket", document["ticket"])]
    elif str(document.get("type", "")).startswith("zen:event-type:ticket.") and isinstance(
        document.get("detail"), dict
    ):
        found = [("detail", document["detail"])]
    elif claims := _claims(document):
        return claims
    else:
        found = [("", document)]
    return [
        (suffix, _with_metrics(_with_requester(ticket, users), metrics))
        if isinstance(ticket, dict)
        else (suffix, ticket)
        for suffix, ticket in found
    ]


# The ticket event export's list and the Ticket Audits API's. Not a single
# `audit`: a ticket's create response carries one beside the ticket, whose
# creation the ticket itself says.
TICKET_EVENTS = ("ticket_events", "audits")


def _ticket_event(item):
    """Marked as what it is (as an organization or a user record is), when it is an object."""
    return {"ticket_event": item} if isinstance(item, dict) else item


def _is_ticket_event(data: dict) -> bool:
    return isinstance(data.get("ticket_event"), dict) and "id" not in data


# Records that are not tickets but say who someone is: one name for a list of
# them and one for a single one, as the API's responses name them.
CLAIMS = (("organizations", "organization"), ("users", "user"))


def _claims(document: dict) -> list[tuple[str, dict]]:
    """The organizations or users of a document, each wrapped as its own record."""
    for plural, singular in CLAIMS:
        if isinstance(document.get(plural), list):
            return [
                (f"{plural}[{i}]", {singular: item} if isinstance(item, dict) else item)
                for i, item in enumerate(document[plural])
            ]
        if isinstance(document.get(singular), dict):
            return [(singular, {singular: document[singular]})]
    return []


def _metrics_by_ticket(metric_sets) -> dict[str, dict]:
    """Side-loaded ticket metrics (`include=metric_sets`): ticket id -> metrics."""
    metric_sets = metric_sets if isinstance(metric_sets, list) else []
    return {
        str(m["ticket_id"]): m for m in metric_sets if isinstance(m, dict) and m.get("ticket_id")
    }


def _with_metrics(ticket: dict, metrics: dict[str, dict]) -> dict:
    found = metrics.get(str(ticket.get("id")))
    if found is None or "metric_set" in ticket:
        return ticket
    return ticket | {"metric_set": found}


def _with_requester(ticket: dict, users: dict[str, dict]) -> dict:
    """The side-loaded requester's email and organization, as the ticket's
    `requester`: either may name the client of a ticket without one."""
    requester = users.get(str(ticket.get("requester_id")))
    if "requester" in ticket or requester is None:
        return ticket
    return ticket | {"requester": requester}


def _locator(outer: str, suffix: str) -> str:
    """ "tickets[2]" for a single document, "line 3: ticket" within NDJSON."""
    if not suffix:
        return outer
    return suffix if outer == "index 0" else f"{outer}: {suffix}"


def _users_by_id(users) -> dict[str, dict]:
    """Side-loaded users (`?include=users`): requester id -> their email and
    organization, where given."""
    users = users if isinstance(users, list) else []
    return {
        str(u["id"]): {name: u[name] for name in ("email", "organization_id") if u.get(name)}
        for u in users
        if isinstance(u, dict) and u.get("id") and (u.get("email") or u.get("organization_id"))
    }


def _is_user(data: dict) -> bool:
    return isinstance(data.get("user"), dict) and "id" not in data


def _user_claim(user: dict) -> IdentityClaim:
    """A user (a ticket's requester) belongs to the client of their
    organization, or of their email: known by either, the user's id is
    registered for it, and the tickets waiting on their requester go in."""
    user_id = user.get("id")
    if user_id in (None, "", 0) or isinstance(user_id, bool):
        raise RecordError("user.id", "is required")
    organization = user.get("organization_id")
    email = user.get("email")
    hints = ClientHints(
        identities=(("zendesk", str(organization)),) if organization else (),
        emails=(email,) if isinstance(email, str) and "@" in email else (),
    )
    if not hints:
        raise RecordError("user.organization_id", "is required when the user has no email")
    return IdentityClaim(hints=hints, aliases=((REQUESTER_SYSTEM, str(user_id)),))


def _is_organization(data: dict) -> bool:
    return isinstance(data.get("organization"), dict) and "id" not in data


def _organization_claim(organization: dict) -> IdentityClaim:
    """The organization names its client in Zendesk and by its email domains.

    Known by either (a mapped organization id, or a `domain` identity), it
    registers both; unknown, it waits until one is mapped."""
    org_id = organization.get("id")
    if org_id in (None, "", 0):
        raise RecordError("organization.id", "is required")
    names = [("zendesk", str(org_id))]
    names += [("domain", str(d).strip().lower()) for d in organization.get("domain_names") or []]
    return IdentityClaim(hints=ClientHints(identities=tuple(names)), aliases=tuple(names))


def _hints(data: dict) -> ClientHints:
    identities = []
    if data["organization_id"]:
        identities.append(("zendesk", data["organization_id"]))
    requester = data["requester"]
    organization = requester.get("organization_id") if isinstance(requester, dict) else None
    if organization and str(organization) != data["organization_id"]:
        identities.append(("zendesk", str(organization)))
    if data["requester_id"]:
        identities.append((REQUESTER_SYSTEM, data["requester_id"]))
    email = requester.get("email") if isinstance(requester, dict) else requester
    return ClientHints(
        identities=tuple(identities),
        emails=(email,) if isinstance(email, str) and "@" in email else (),
    )


def _clip(value: str | None, limit: int) -> str | None:
    """Entity columns have limits; a webhook body may not keep to them."""
    return value[:limit] if value else None


def _agent_url(url: str | None) -> str | None:
    """The agent UI page of a ticket, from its API url or a {{ticket.link}}."""
    if not url:
        return None
    if match := API_URL.match(url):
        return f"{match[1]}/agent/tickets/{match[2]}"
    if match := AGENT_URL.match(url):
        return f"https://{match[1]}"
    return None
