"""The `freshdesk` and `freshservice` connectors: tickets as their REST API
v2 and their automation webhooks send them, and companies and contacts as
identity claims.

Input: `GET /api/v2/tickets` (a JSON array; Freshservice wraps it as
`{"tickets": [...]}`), one ticket (`GET /api/v2/tickets/ID`, Freshservice
`{"ticket": {...}}`), `GET /api/v2/companies` and `/api/v2/contacts`, the
v1 API's shape (`{"helpdesk_ticket": ...}`, `ticket_type`, `status_name`),
and an automation rule's "Trigger webhook" body. That body is the admin's to
write from placeholders; we read the REST ticket's field names
(`{"ticket": {"id": "{{ticket.id}}", "status": "{{ticket.status}}", ...}}`
or the same keys bare) and the simple mode's `{"freshdesk_webhook":
{"ticket_id": ..., "ticket_status": ...}}` (the `ticket_` prefix dropped).
A status is its number (2 open, 3 pending, 4 resolved, 5 closed; 6 and 7
the default "waiting" statuses) or its name as a placeholder writes it.

A ticket says how it stands now: each (id, updated_at) is one event, id
`<id>@<updated_at>`, as for Zendesk; `created_at` implies the opening and,
with `include=stats`, `stats.resolved_at` (else `closed_at`) the closing
(connectors.lifecycle). The company is the client key (`company_id`,
identity system `freshdesk`; Freshservice's `department_id`, system
`freshservice`); the requester comes along (`freshdesk-contact`, and their
email with `include=requester`), so a ticket without a company waits as
unmatched until a contact or a ticket naming both ties them.
"""

from collections.abc import Iterator

from marshmallow import ValidationError, fields, pre_load

from connectors.base import CanonicalEvent, Connector, IdentityClaim, RecordError, Skip
from connectors.fields import REQUIRED, KnownFieldsSchema
from connectors.lifecycle import Moment, implied
from connectors.readers import Record, unwrapped
from connectors.registry import register
from connectors.zendesk_fields import Time, ZendeskId, version_id
from crm.identities import ClientHints

# Freshdesk's status numbers -> (our status, whether it closes the ticket).
STATUSES = {
    2: ("open", False),
    3: ("pending", False),
    4: ("resolved", True),
    5: ("closed", True),
    6: ("waiting on customer", False),
    7: ("waiting on third party", False),
}
STATUS_NAMES = {name: number for number, (name, _) in STATUSES.items()}
PRIORITIES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}
SOURCES = {1: "email", 2: "portal", 3: "phone", 7: "chat", 9: "feedback widget", 10: "outbound"}
# The v1 API's (and some placeholders') names for the v2 fields.
V1_NAMES = {
    "ticket_type": "type",
    "description": "description_text",
    "frDueBy": "fr_due_by",
    "contact_email": "requester_email",
    "company": "company_name",
    "email": "requester_email",  # Freshservice's ticket: its requester's
}
WEBHOOK_PREFIX = "ticket_"


class FreshId(ZendeskId):
    """An id as the API sends it (a number) or a placeholder does (text)."""

    vendor = "Freshdesk"


def _maybe(field_class=fields.String):
    """An optional field: a placeholder's "" and the API's null are none."""
    return field_class(load_default=None, allow_none=True)


class Status(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip().lower() in STATUS_NAMES:
            return STATUS_NAMES[value.strip().lower()]
        if (number := _number(value)) is not None:
            return number
        raise ValidationError(f"{value!r} is not a Freshdesk status")


class TicketSchema(KnownFieldsSchema):
    id = FreshId(required=True, error_messages=REQUIRED)
    status = Status(required=True, error_messages=REQUIRED)
    created_at = Time(required=True, error_messages=REQUIRED)
    updated_at = Time(required=True, error_messages=REQUIRED)
    subject = _maybe()
    description_text = _maybe()
    type = _maybe()
    priority = _maybe(fields.Raw)
    source = _maybe(fields.Raw)
    company_id = _maybe(FreshId)
    department_id = _maybe(FreshId)
    company_name = _maybe()
    requester_id = _maybe(FreshId)
    requester_email = _maybe()
    responder_id = _maybe(FreshId)
    group_id = _maybe(FreshId)
    due_by = _maybe(Time)
    url = _maybe()
    tags = fields.Raw(load_default=list, allow_none=True)
    stats = _maybe(fields.Raw)
    requester = _maybe(fields.Raw)

    @pre_load
    def tidy(self, data, **kwargs):
        """Placeholders write "" for nothing and names for numbers; the v1
        API had other names. Read them all as the v2 ticket."""
        data = {k: (None if v == "" else v) for k, v in data.items()}
        for old, new in V1_NAMES.items():
            if old in data and data.get(new) is None:
                data[new] = data.pop(old)
        if isinstance(data.get("tags"), str):  # {{ticket.tags}}: comma-separated
            data["tags"] = [t.strip() for t in data["tags"].split(",") if t.strip()]
        requester = data.get("requester")
        if isinstance(requester, dict) and data.get("requester_email") is None:
            data["requester_email"] = requester.get("email")
        # A rule on ticket creation may send the creation time only: that
        # version is the creation.
        if data.get("updated_at") is None and data.get("created_at") is not None:
            data["updated_at"] = data["created_at"]
        return data


@register
class FreshdeskConnector(Connector):
    """Freshdesk tickets, and companies and contacts as identity claims."""

    name = "freshdesk"
    natural_key = ("id", "updated_at")
    schema = TicketSchema
    # The identity system of the company (Freshservice: of the department).
    company_system = "freshdesk"
    company_field = "company_id"

    @property
    def contact_system(self) -> str:
        return f"{self.company_system}-contact"

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """Unwrap list answers and webhook bodies into one record per object."""
        return unwrapped(super().parse(content, filename), _unwrap, _locator)

    def schema_applies(self, data: dict) -> bool:
        return _kind(data) == "ticket"

    def key_of(self, data: dict) -> str:
        kind = _kind(data)
        if kind != "ticket":
            return f"{kind}:{data.get('id', '')}"
        return super().key_of(data)

    def convert(self, data: dict) -> list[CanonicalEvent | IdentityClaim]:
        kind = _kind(data)
        if kind == "company":
            return [self._company_claim(data)]
        if kind == "contact":
            return [self._contact_claim(data)]
        return self._ticket_events(data)

    def _ticket_events(self, data: dict) -> list[CanonicalEvent]:
        ticket_id, number = data["id"], data["status"]
        if number not in STATUSES:
            raise Skip(
                f"{self.name} ticket {ticket_id} status {number} is not mapped; mapped: "
                + ", ".join(f"{n} ({name})" for n, (name, _) in STATUSES.items())
            )
        status, closes = STATUSES[number]
        created = data["created_at"]
        updated = max(data["updated_at"], created)
        kind = (
            "ticket.resolved"
            if closes
            else "ticket.opened"
            if updated <= created
            else "ticket.updated"
        )
        company = data[self.company_field]
        requester = data["requester_id"]
        stats = data["stats"] if isinstance(data["stats"], dict) else {}
        event = CanonicalEvent(
            origin=self.name,
            external_id=version_id(ticket_id, updated),
            kind=kind,
            occurred_at=updated,
            hints=self._hints(data),
            title=(data["subject"] or f"{self.name.title()} ticket #{ticket_id}")[:500],
            detail=data["description_text"] if kind == "ticket.opened" else f"Status {status}",
            thread_key=ticket_id,
            url=data["url"],
            attributes={
                f"{self.name}_status": number,
                "status_name": status,
                "source": SOURCES.get(_number(data["source"]), data["source"]),
                "tags": [str(t) for t in data["tags"]] if isinstance(data["tags"], list) else [],
                self.company_field: company,
                "requester_id": requester,
                "group_id": data["group_id"],
            },
            status=status if not closes else None,
            due_at=data["due_by"],
            priority=_priority(data["priority"]),
            category=data["type"][:80] if data["type"] else None,
            assignee=data["responder_id"],
            aliases=((self.contact_system, requester),) if company and requester else (),
        )
        closed_at = _time(stats.get("resolved_at")) or _time(stats.get("closed_at"))
        return implied(
            event,
            opened=Moment(
                created, version_id(ticket_id, created), "open", detail=data["description_text"]
            ),
            closed=(
                Moment(closed_at, version_id(ticket_id, closed_at), detail=f"Status {status}")
                if closes and closed_at is not None
                else None
            ),
        )

    def _hints(self, data: dict) -> ClientHints:
        identities = []
        if data[self.company_field]:
            identities.append((self.company_system, data[self.company_field]))
        if data["company_name"]:
            identities.append((f"{self.company_system}-company", data["company_name"].strip()))
        if data["requester_id"]:
            identities.append((self.contact_system, data["requester_id"]))
        email = data["requester_email"]
        return ClientHints(
            identities=tuple(identities),
            emails=(email.strip(),) if isinstance(email, str) and "@" in email else (),
        )

    def _company_claim(self, company: dict) -> IdentityClaim:
        """A company names its client by its id, its name and its domains;
        known by any (a mapped id or name, a `domain` identity), it registers
        them all for that client."""
        company_id = _id(company.get("id"), "id")
        names = [(self.company_system, company_id)]
        if isinstance(company.get("name"), str) and company["name"].strip():
            names.append((f"{self.company_system}-company", company["name"].strip()))
        domains = company.get("domains") if isinstance(company.get("domains"), list) else []
        names += [("domain", str(d).strip().lower()) for d in domains if str(d).strip()]
        return IdentityClaim(hints=ClientHints(identities=tuple(names)), aliases=tuple(names))

    def _contact_claim(self, contact: dict) -> IdentityClaim:
        """A contact (a ticket's requester) belongs to the client of their
        company, or of their email: their id is registered for it."""
        contact_id = _id(contact.get("id"), "id")
        company = contact.get(self.company_field)
        many = contact.get(f"{self.company_field}s")  # Freshservice: department_ids
        if not company and isinstance(many, list) and many:
            company = many[0]
        email = contact.get("email") or contact.get("primary_email")  # Freshservice's
        hints = ClientHints(
            identities=((self.company_system, str(company)),) if company else (),
            emails=(email,) if isinstance(email, str) and "@" in email else (),
        )
        if not hints:
            raise RecordError(self.company_field, "is required when the contact has no email")
        return IdentityClaim(hints=hints, aliases=((self.contact_system, contact_id),))


@register
class FreshserviceConnector(FreshdeskConnector):
    """Freshservice tickets: Freshdesk's shape, its departments (the clients
    of an MSP's service desk) in place of companies."""

    name = "freshservice"
    company_system = "freshservice"
    company_field = "department_id"


def _unwrap(document: dict) -> list[tuple[str, object]]:
    """(locator suffix, record) for each ticket, company or contact of a document."""
    if isinstance(document.get("freshdesk_webhook"), dict):
        hook = document["freshdesk_webhook"]
        ticket = {_unprefixed(k): v for k, v in hook.items()}
        return [("freshdesk_webhook", ticket)]
    for many in ("tickets", "companies", "contacts", "departments", "requesters"):
        if isinstance(document.get(many), list):
            return [(f"{many}[{i}]", item) for i, item in enumerate(document[many])]
    for one in ("ticket", "helpdesk_ticket", "company", "contact", "department", "requester"):
        # A wrapper has no id of its own: a ticket's side-loaded `requester`
        # or `company` is not one.
        if isinstance(document.get(one), dict) and "id" not in document:
            return [(one, _marked(one, document[one]))]
    return [("", document)]


def _marked(wrapper: str, item: dict) -> dict:
    """A wrapped company or contact says what it is, as a list item does by its fields."""
    if wrapper in ("company", "department"):
        return item | {"_touchline_kind": "company"}
    if wrapper in ("contact", "requester"):
        return item | {"_touchline_kind": "contact"}
    return item


def _locator(outer: str, suffix: str) -> str:
    return f"{outer}: {suffix}" if suffix else outer


def _unprefixed(key: str) -> str:
    return key[len(WEBHOOK_PREFIX) :] if key.startswith(WEBHOOK_PREFIX) else key


def _kind(data: dict) -> str:
    """A ticket, a company or a contact, by the fields only each has."""
    marked = data.get("_touchline_kind")
    if marked:
        return marked
    if "status" in data or "subject" in data or "requester_id" in data:
        return "ticket"
    if "email" in data or "primary_email" in data:
        return "contact"
    if "domains" in data or "name" in data:
        return "company"
    return "ticket"


def _id(value, field: str) -> str:
    if isinstance(value, bool) or value in (None, "", 0) or not str(value).strip().isdigit():
        raise RecordError(field, "is required")
    return str(value).strip()


def _number(value) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _priority(value) -> str | None:
    number = _number(value)
    if number is not None:
        return PRIORITIES.get(number, str(number))
    return str(value).strip().lower()[:32] if value else None


def _time(value):
    try:
        return Time().deserialize(value) if value else None
    except ValidationError:
        return None
