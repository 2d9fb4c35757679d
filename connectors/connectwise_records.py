"""What each ConnectWise PSA object means for Touchline (connectors.connectwise).

Clients: a company is known by its `id` (identity system `connectwise`), its
`identifier` (`connectwise-identifier`, the short code staff type, e.g.
`YourCompany`) and its `name` (`connectwise-name`, for the unmatched queue
to suggest a client by). Tickets, time entries, agreements and
configurations name their company (`company.id`, `company.identifier`);
notes and time entries go by their ticket: each ticket registers its id
(`connectwise-ticket`) for its client and the notes and time waiting on it
go in (time on a ticket never read would otherwise make a ticket thread of
its own, open, with no state).

Times are the record's own (docs/formats.md lists them): a ticket opens at
its entry date (`_info.dateEntered`, or `dateEntered` in the API's older
shape), stands as it is at `_info.lastUpdated`, and closes at `closedDate`
(else `dateResolved`); a note happens at `dateCreated`, a time entry at
`timeStart`; an agreement starts at `startDate` and is due for renewal at
`endDate`, and is cancelled at `dateCancelled`.
"""

import re
from datetime import datetime

from connectors.accounting import Reader, money_text
from connectors.base import CanonicalEvent, IdentityClaim, RecordError, Skip
from connectors.lifecycle import Moment, implied
from crm.identities import ClientHints
from crm.revenue import per_month

ORIGIN = "connectwise"
COMPANY_SYSTEM = "connectwise"
IDENTIFIER_SYSTEM = "connectwise-identifier"
NAME_SYSTEM = "connectwise-name"
TICKET_SYSTEM = "connectwise-ticket"
# Board status names that mean the work is done but the ticket not yet
# closed (ConnectWise's closed statuses set `closedFlag`).
SOLVED = re.compile(r"resolved|completed|solved", re.IGNORECASE)
# ConnectWise's default priorities ("Priority 1 - Emergency Response" ...)
# and the plain words, as Touchline's priorities (crm.flags reads them).
PRIORITIES = (
    (re.compile(r"priority\s*1\b|emergency|critical|urgent", re.I), "urgent"),
    (re.compile(r"priority\s*2\b|high|quick", re.I), "high"),
    (re.compile(r"priority\s*3\b|normal|medium", re.I), "normal"),
    (re.compile(r"priority\s*4\b|low|schedule", re.I), "low"),
)
ENDED = ("cancelled", "canceled", "expired")
TICKET_CHARGES = ("ServiceTicket", "ProjectTicket")


def company_hints(f: Reader, name: str = "company") -> ClientHints:
    """The company an object names: its id, and its identifier where given."""
    company = f.part(name)
    identities = [(COMPANY_SYSTEM, company.text("id", required=True))]
    identifier = company.text("identifier")
    if identifier:
        identities.append((IDENTIFIER_SYSTEM, identifier))
    return ClientHints(identities=tuple(identities))


def company_claim(f: Reader) -> IdentityClaim:
    """A company names its client by id, identifier and name: known by any
    of them, it registers all three."""
    names = [(COMPANY_SYSTEM, f.text("id", required=True))]
    identifier, name = f.text("identifier"), f.text("name")
    if identifier:
        names.append((IDENTIFIER_SYSTEM, identifier))
    if name:
        names.append((NAME_SYSTEM, " ".join(name.split())))
    return IdentityClaim(hints=ClientHints(identities=tuple(names)), aliases=tuple(names))


def _event(kind: str, external_id: str, at: datetime, hints, title: str, **fields):
    return CanonicalEvent(ORIGIN, external_id, kind, at, hints, title[:500], **fields)


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _entered(f: Reader) -> datetime:
    """When the ticket was entered: `_info.dateEntered` in the current API,
    `dateEntered` on the ticket itself in the older one."""
    entered = f.time("_info.dateEntered")
    if entered is None:
        entered = f.time("dateEntered")
    if entered is None:
        raise RecordError("_info.dateEntered", "is required (older API versions: dateEntered)")
    return entered


def priority(name: str | None) -> str | None:
    if not name:
        return None
    for pattern, word in PRIORITIES:
        if pattern.search(name):
            return word
    return name[:32]


def ticket_state(f: Reader, status: str) -> str:
    """open, solved or closed: `closedFlag` closes; a board status that
    reads as done (Resolved, Completed) solves; anything else is open."""
    if f.raw("closedFlag") is True:
        return "closed"
    if SOLVED.search(status):
        return "solved"
    return "open"


def ticket(f: Reader) -> list[CanonicalEvent]:
    ticket_id = f.text("id", required=True)
    status = f.part("status").text("name", required=True)
    state = ticket_state(f, status)
    entered = _entered(f)
    updated = f.time("_info.lastUpdated")
    done_at = (f.time("closedDate") or f.time("dateResolved")) if state != "open" else None
    inferred = {}
    if updated is None:
        # The version's time: when it closed, else (never changed) its entry.
        updated = done_at or entered
        inferred["_info.lastUpdated"] = "closedDate" if done_at else "_info.dateEntered"
    updated = max(updated, entered)
    if state == "open":
        kind = "ticket.opened" if updated <= entered else "ticket.updated"
    else:
        kind = "ticket.resolved"
    summary = f.text("summary") or f"ConnectWise ticket #{ticket_id}"
    owner = f.part("owner")
    email = f.text("contactEmailAddress")
    board = f.part("board").text("name")
    event = _event(
        kind,
        f"{ticket_id}@{_stamp(updated)}",
        updated,
        ClientHints(
            identities=company_hints(f).identities,
            emails=(email,) if email and "@" in email else (),
        ),
        summary,
        detail=f"Status {status}" if kind != "ticket.opened" else None,
        thread_key=ticket_id,
        actor=f.text("_info.updatedBy"),
        attributes={
            "connectwise_status": status,
            "psa_status": state,
            "board": board,
            "record_type": f.text("recordType"),
            "connectwise_priority": f.part("priority").text("name"),
            "company_identifier": f.part("company").text("identifier"),
            "contact": f.text("contactName"),
            **({"inferred": inferred} if inferred else {}),
        },
        status="open" if state == "open" else None,
        due_at=f.time("requiredDate"),
        priority=priority(f.part("priority").text("name")),
        category=(f.part("type").text("name") or board or "")[:80] or None,
        assignee=(owner.text("identifier") or owner.text("name") or "")[:200] or None,
        aliases=((TICKET_SYSTEM, ticket_id),),
    )
    return implied(
        event,
        opened=Moment(entered, f"{ticket_id}@{_stamp(entered)}", "open"),
        closed=(
            Moment(done_at, f"{ticket_id}@{_stamp(done_at)}", detail=f"Status {status}")
            if done_at is not None
            else None
        ),
    )


def _member(f: Reader, *fallbacks: str) -> str | None:
    member = f.part("member")
    name = member.text("identifier") or member.text("name")
    for field in fallbacks:
        name = name or f.text(field)
    return name[:200] if name else None


def note(f: Reader) -> CanonicalEvent:
    """A note on a ticket, in its thread; it names only the ticket."""
    note_id = f.text("id", required=True)
    ticket_id = f.text("ticketId", required=True)
    text = f.text("text") or ""
    internal = f.raw("internalAnalysisFlag") is True or f.raw("internalFlag") is True
    what = "Internal note" if internal else "Note"
    return _event(
        "ticket.noted",
        f"note-{note_id}",
        f.time("dateCreated", required=True),
        ClientHints(identities=((TICKET_SYSTEM, ticket_id),)),
        f"{what} on ticket #{ticket_id}: {' '.join(text.split())[:200]}",
        detail=text or None,
        thread_key=ticket_id,
        actor=_member(f, "createdBy"),
        attributes={
            "note_id": note_id,
            "internal": internal,
            "resolution": f.raw("resolutionFlag") is True,
            "customer_visible": f.raw("externalFlag") is True,
        },
    )


def time_entry(f: Reader) -> CanonicalEvent:
    """Time worked on a ticket, in its thread; time charged elsewhere (a
    charge code, an activity, a project) is not a ticket's."""
    entry_id = f.text("id", required=True)
    charge, charged_to = f.text("chargeToType"), f.text("chargeToId")
    if charge not in TICKET_CHARGES or not charged_to:
        raise Skip(
            f"connectwise time entry {entry_id} is charged to {charge or 'nothing'}, "
            f"not a ticket ({', '.join(TICKET_CHARGES)})"
        )
    start = f.time("timeStart", required=True)
    hours = f.money("actualHours")
    # By its ticket alone, as a note: placed by its company, time on a ticket
    # never read would make a thread of its own, open with no state.
    hints = ClientHints(identities=((TICKET_SYSTEM, charged_to),))
    worker = _member(f, "enteredBy")
    spent = f"{hours.normalize():f} h" if hours is not None else "Time"
    return _event(
        "ticket.noted",
        f"time-{entry_id}",
        start,
        hints,
        f"{spent} logged on ticket #{charged_to}" + (f" by {worker}" if worker else ""),
        detail=f.text("notes"),
        thread_key=charged_to,
        actor=worker,
        attributes={
            "time_entry_id": entry_id,
            "hours": None if hours is None else str(hours),
            "time_end": _iso(f.time("timeEnd")),
            "billable": f.text("billableOption"),
            "work_type": f.part("workType").text("name"),
            "company_id": f.part("company").text("id"),
        },
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else _stamp(at)


def agreement(f: Reader) -> list[CanonicalEvent]:
    """An agreement is recurring revenue: a subscription from `startDate`
    with its bill amount; with an end date, a renewal due then; cancelled
    or expired, a renewal that will not happen."""
    agreement_id = f.text("id", required=True)
    name = f.text("name") or f"Agreement {agreement_id}"
    start = f.time("startDate", required=True)
    end = None if f.raw("noEndingDateFlag") is True else f.time("endDate")
    amount = f.money("billAmount")
    currency = f.part("currency").currency("isoCode")
    # `billingCycle` names the cycle; older answers give only `billCycleId`,
    # an id of the instance's own setup table, which says no length.
    cycle = f.part("billingCycle").text("name")
    status = (f.text("agreementStatus") or "").lower()
    # A one-time bill is no recurring revenue (crm.revenue reads monthly_amount).
    one_time = f.raw("billOneTimeFlag") is True
    monthly = None if one_time else per_month(amount, cycle)
    attributes = {
        "agreement_id": agreement_id,
        "agreement_type": f.part("type").text("name"),
        "agreement_status": f.text("agreementStatus"),
        "billing_cycle": cycle,
        "bill_cycle_id": f.text("billCycleId"),
        "recurring": not one_time,
        "monthly_amount": None if monthly is None else str(monthly),
        "start_date": _iso(start),
        "end_date": _iso(end),
    }
    attributes = {key: value for key, value in attributes.items() if value is not None}
    hints = company_hints(f)
    money = {"amount": amount, "currency": currency if amount is not None else None}
    priced = f" ({money_text(amount, currency)}{f' {cycle.lower()}' if cycle else ''})"
    started = _event(
        "subscription.created",
        f"{agreement_id}:started",
        start,
        hints,
        f"Agreement {name} started{priced if amount is not None else ''}",
        thread_key=agreement_id,
        attributes=attributes,
        **money,
    )
    events = [started]
    cancelled = f.raw("cancelledFlag") is True or status in ENDED[:2]
    if cancelled:
        at = f.time("dateCancelled") or f.time("_info.lastUpdated")
        if at is None:
            raise RecordError("dateCancelled", "is required for a cancelled agreement")
        events.append(
            _ended(
                f,
                "subscription.cancelled",
                agreement_id,
                at,
                hints,
                name,
                attributes | {"reason": f.text("reasonCancelled")},
            )
        )
    elif status == "expired" and end is not None:
        # Its recurring revenue ends with its term (crm.revenue).
        events.append(
            _ended(
                f, "subscription.cancelled", agreement_id, end, hints, name, attributes, "expired"
            )
        )
    if end is None:
        return events
    renewal = {"thread_key": f"agreement-{agreement_id}", "attributes": attributes, **money}
    term = end.date().isoformat()
    if cancelled or status == "expired":
        at = events[-1].occurred_at if cancelled else end
        events.append(
            _event(
                "renewal.cancelled",
                f"{agreement_id}:ended@{term}",
                at,
                hints,
                f"Agreement {name} will not renew ({status or 'cancelled'})",
                **renewal,
            )
        )
        return events
    seen = f.time("_info.lastUpdated") or start
    due = _event(
        "renewal.due",
        f"{agreement_id}:due@{term}",
        max(seen, start),
        hints,
        f"Agreement {name} renews {term}{priced if amount is not None else ''}",
        due_at=end,
        **renewal,
    )
    return [*events, due]


def _ended(
    f: Reader, kind, agreement_id, at, hints, name, attributes, word="cancelled"
) -> CanonicalEvent:
    return _event(
        kind,
        f"{agreement_id}:{word}",
        at,
        hints,
        f"Agreement {name} {word}",
        thread_key=agreement_id,
        attributes={k: v for k, v in attributes.items() if v is not None},
    )
