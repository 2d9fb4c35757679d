"""Don't get ambushed: what is wrong with the account as it stands before the meeting.

Which threads are flagged, as what, how severely and since when is crm.flags'
one definition, which the client directory, the pre-contact card and the
portfolio report read too; here each flag is explained: the figures that
matter, in a sentence, with the events it was read from.

Everything is read "as of" a moment (now, or the morning of a past meeting)
from a reports.briefing.snapshot of the frames. The health score reads the
same flags as of the start of the period to say what changed, so no flag may
depend on anything but the snapshot.

Besides the open flags, two of what the period *settled* are flagged low,
since the client may bring them up: a ticket solved after its SLA, and a
payment that failed in the period on an invoice settled since (`settled`).

Flags are ranked most severe first, then the longest waiting (crm.flags.rank).
"""

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pandas as pd

from crm import flags as rules
from crm.flags import AGING_BUCKETS, DEFAULT_STALE_TICKET_DAYS, Raised, aging_bucket
from crm.formatting import span, whole_days
from reports.briefing.model import KIND_LABELS, AgingBucket, BucketTotal, Flag
from reports.briefing.phrasing import days_text, humanise, money_text
from reports.briefing.snapshot import Scope, Snapshot
from reports.briefing.threads import records

DEFAULT_STALE_DAYS = DEFAULT_STALE_TICKET_DAYS
RECURRING_WINDOW = rules.RECURRING_WINDOW
PROBLEM_TICKET = (
    "Open a problem ticket to find the root cause instead of handling each alert as a new incident."
)
# A commitment made this close to the last meeting was made in it.
SAME_MEETING = timedelta(days=1)

__all__ = [
    "DEFAULT_STALE_DAYS",
    "KIND_LABELS",
    "PROBLEM_TICKET",
    "RECURRING_WINDOW",
    "aging_bucket",
    "aging_summary",
    "find_flags",
    "snapshot_flags",
]


def find_flags(events: pd.DataFrame, entities: pd.DataFrame, scope: Scope) -> list[Flag]:
    """Every flag at `scope.as_of`, most severe first."""
    return snapshot_flags(Snapshot.take(events, entities, scope))


def snapshot_flags(s: Snapshot) -> list[Flag]:
    flags = [*thread_flags(s), *recurring_alert_flags(s), *settled_flags(s)]
    return ranked(flags)


def ranked(flags: list[Flag]) -> list[Flag]:
    return sorted(flags, key=lambda flag: (flag.settled, *rules.rank(flag)))


def thread_flags(s: Snapshot) -> list[Flag]:
    """The flag each open thread raises (crm.flags), explained."""
    flags = []
    for thread in records(s.open[s.open["type"].isin(rules.FLAGGED_TYPES)]):
        raised = s.raised(thread)
        if raised is not None:
            flags.append(_EXPLAIN[raised.kind](s, thread, raised))
    return flags


def _flag(s: Snapshot, thread, raised: Raised, detail: str, **fields) -> Flag:
    """A thread's flag as the briefing shows it."""
    since = _py(raised.since)
    values = {
        "kind": raised.kind,
        "severity": raised.severity,
        "title": thread.title or f"{thread.type.capitalize()} {thread.key}",
        "detail": detail,
        "opened_at": _py(thread.opened_at),
        "since": since,
        "age_days": whole_days(since, s.scope.as_of),
        "due_at": _py(thread.due_at),
        "amount": thread.amount,
        "currency": thread.currency,
        "owner": thread.assignee,
        "thread_type": thread.type,
        "thread_key": thread.key,
        "facets": list(raised.facets),
        "event_ids": s.threads.ids(thread.type, thread.key),
    }
    return Flag(**(values | fields))


# --- tickets -------------------------------------------------------------------------


def _late_ticket(s: Snapshot, ticket, raised: Raised) -> Flag:
    """Past its SLA, open too long, or both: one flag."""
    as_of = s.scope.as_of
    priority = (ticket.priority or "").lower()
    if "open_too_long" in raised.facets:
        detail = f"Open {whole_days(ticket.opened_at, as_of)} days, since {s.day(ticket.opened_at)}"
        detail += f" ({ticket.status})" if ticket.status not in (None, "open") else ""
        if "past_sla" in raised.facets:
            detail += f"; past its SLA by {span(as_of - ticket.sla_due_at)}"
    else:
        detail = (
            f"Open since {s.day(ticket.opened_at)}"
            + (f" ({priority} priority)" if priority else "")
            + f": its SLA ran out {span(as_of - ticket.sla_due_at)} ago"
        )
    return _flag(s, ticket, raised, detail + ".", due_at=_py(ticket.sla_due_at))


# --- billing -------------------------------------------------------------------------


def _dispute(s: Snapshot, dispute, raised: Raised) -> Flag:
    """An open dispute, with the amount, the reason and the evidence deadline."""
    threads = s.threads
    reason = humanise(threads.attribute("dispute", dispute.key, "reason") or dispute.category)
    due = _py(dispute.due_at) or _deadline(
        threads.attribute("dispute", dispute.key, "evidence_due_by"), s
    )
    disputed = money_text(dispute.amount, dispute.currency) or "A charge"
    detail = f"{disputed} disputed on {s.day(dispute.opened_at)}"
    detail += f", reason: {reason}" if reason else ""
    if due is None:
        detail += "; no evidence deadline on record."
    elif due < s.scope.as_of:
        detail += f"; the evidence was due {s.day(due)}."
    else:
        detail += f"; evidence due {s.day(due)} (in {span(due - s.scope.as_of)})."
    return _flag(s, dispute, raised, detail, due_at=due)


def _failed_payment(s: Snapshot, invoice, raised: Raised) -> Flag:
    """An open invoice, not yet overdue, whose latest payment attempt failed."""
    failures = _failures(s, invoice)
    due = "" if _py(invoice.due_at) is None else f", due {s.day(invoice.due_at)}"
    detail = (
        _attempts_text(s, failures)
        + f"; {money_text(invoice.amount, invoice.currency) or 'the invoice'} unpaid{due}."
    )
    return _flag(s, invoice, raised, detail, event_ids=_ids(s, invoice, failures))


def _overdue_invoice(s: Snapshot, invoice, raised: Raised) -> Flag:
    """An open invoice past its due date (in its aging bucket), its payment
    failed or not: one flag either way."""
    as_of = s.scope.as_of
    bucket = aging_bucket(whole_days(invoice.due_at, as_of))
    overdue = days_text(invoice.due_at, as_of)
    detail = (
        f"{money_text(invoice.amount, invoice.currency) or 'It'} was due "
        f"{s.day(invoice.due_at)}: {overdue} overdue ({bucket} days)"
    )
    failures = _failures(s, invoice) if "payment_failed" in raised.facets else []
    if failures:
        detail += "; " + _attempts_text(s, failures)
    return _flag(s, invoice, raised, detail + ".", aging_bucket=bucket)


def _failures(s: Snapshot, invoice) -> list:
    rows = s.threads.rows("invoice", invoice.key)
    return [row for row in rows if row.kind == "payment.failed"]


def _attempts_text(s: Snapshot, failures: list) -> str:
    if not failures:
        return "its payment failed"
    last = failures[-1]
    attempts = "1 payment attempt" if len(failures) == 1 else f"{len(failures)} payment attempts"
    return f"{attempts} failed, the last on {s.day(last.occurred_at)}{_reason(last)}"


def _ids(s: Snapshot, invoice, failures: list) -> list[int]:
    if failures:
        return [int(failure.id) for failure in failures]
    return s.threads.ids("invoice", invoice.key)


def _reason(failure) -> str:
    attributes = failure.attributes or {}
    reason = humanise(attributes.get("failure_reason") or attributes.get("failure_code"))
    return f" ({reason})" if reason else ""


def aging_summary(flags: list[Flag]) -> list[AgingBucket]:
    """Overdue invoices per aging bucket, with the total in each currency."""
    counts: dict[str, int] = defaultdict(int)
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    ids: dict[str, list[int]] = defaultdict(list)
    for flag in flags:
        if flag.kind != "overdue_invoice" or flag.settled:
            continue
        counts[flag.aging_bucket] += 1
        ids[flag.aging_bucket] += flag.event_ids
        if flag.amount is not None:
            totals[flag.aging_bucket][flag.currency or ""] += flag.amount
    return [
        AgingBucket(
            label=label,
            count=counts[label],
            totals=[BucketTotal(c, a) for c, a in sorted(totals[label].items())],
            event_ids=ids[label],
        )
        for label, _, _ in AGING_BUCKETS
    ]


# --- alerts --------------------------------------------------------------------------


def _critical_alert(s: Snapshot, alert, raised: Raised) -> Flag:
    device = s.threads.attribute("alert", alert.key, "instance")
    detail = (
        f"Firing since {s.day(alert.opened_at)} ({span(s.scope.as_of - alert.opened_at)})"
        + (f" on {device}" if device and str(device) not in (alert.title or "") else "")
        + "."
    )
    return _flag(s, alert, raised, detail, device=str(device) if device else None)


def recurring_alert_flags(s: Snapshot) -> list[Flag]:
    """The same check on the same device firing RECURRING_TIMES or more in 30
    days (crm.flags.recurrences), which asks for a problem ticket."""
    as_of, events = s.scope.as_of, s.events
    raised = events[
        (events["kind"] == "alert.raised")
        & (events["occurred_at"] > as_of - rules.RECURRING_WINDOW)
    ]
    # Only what the flag reads: a busy client raises thousands of alerts a month.
    alerts = records(raised[["id", "occurred_at", "thread_key", "attributes"]])
    firing = set(s.open.loc[s.open["type"] == "alert", "key"])
    flags = []
    for recurrence in rules.recurrences(map(rules.raised_alert, alerts), as_of):
        key = recurrence.last_thread_key
        detail = (
            f"Fired {recurrence.times} times in the last 30 days, from "
            f"{s.day(recurrence.first)} to {s.day(recurrence.last)}"
            + ("; firing now." if key in firing else ".")
        )
        since = _py(recurrence.first)
        flags.append(
            Flag(
                kind=recurrence.kind,
                severity=recurrence.severity,
                title=recurrence.title,
                detail=detail,
                opened_at=since,
                since=since,
                age_days=whole_days(since, as_of),
                thread_type="alert" if key else None,
                thread_key=key,
                suggestion=PROBLEM_TICKET,
                event_ids=list(recurrence.event_ids),
            )
        )
    return flags


# --- commitments ---------------------------------------------------------------------


def _overdue_commitment(s: Snapshot, promise, raised: Raised) -> Flag:
    """What we promised and have not done by its due time."""
    as_of, meeting = s.scope.as_of, s.scope.last_meeting_at
    at_meeting = meeting is not None and abs(promise.opened_at - meeting) <= SAME_MEETING
    detail = (
        f"Promised on {s.day(promise.opened_at)}"
        + (" at the last meeting" if at_meeting else "")
        + f", due {s.day(promise.due_at)}: {span(as_of - promise.due_at)} overdue."
    )
    return _flag(s, promise, raised, detail)


_EXPLAIN = {
    "open_dispute": _dispute,
    "critical_alert": _critical_alert,
    "failed_payment": _failed_payment,
    "overdue_invoice": _overdue_invoice,
    "late_ticket": _late_ticket,
    "overdue_commitment": _overdue_commitment,
}


# --- settled in the period -----------------------------------------------------------


def settled_flags(s: Snapshot) -> list[Flag]:
    """Low flags for what the period settled but the client may bring up: a
    ticket solved after its SLA (its `past_sla` facet held when it closed), and
    a payment that failed in the period on an invoice settled since."""
    flags = []
    past_sla = rules.RULES["ticket"].facet("past_sla").condition
    tickets = s.entities[(s.entities["type"] == "ticket") & s.in_period(s.entities["closed_at"])]
    for ticket in records(tickets):
        if not past_sla.holds(ticket, ticket.closed_at, s.scope.settings):
            continue
        detail = (
            f"Solved on {s.day(ticket.closed_at)}, "
            f"{span(ticket.closed_at - ticket.sla_due_at)} after its SLA"
            + (f" ({ticket.priority} priority)" if ticket.priority else "")
            + "."
        )
        raised = Raised("late_ticket", "low", ticket.closed_at, ("past_sla",), ("late_ticket",))
        flags.append(_flag(s, ticket, raised, detail, due_at=_py(ticket.sla_due_at), settled=True))
    events = s.events
    failing = set(events.loc[events["kind"] == "payment.failed", "thread_key"])
    invoices = s.entities[(s.entities["type"] == "invoice") & s.in_period(s.entities["closed_at"])]
    for invoice in records(invoices[invoices["key"].isin(failing)]):
        start = s.scope.period_start
        failures = [f for f in _failures(s, invoice) if f.occurred_at > start]
        if not failures:
            continue
        detail = f"{_attempts_text(s, failures)}; {invoice.status} on {s.day(invoice.closed_at)}."
        raised = Raised(
            "failed_payment", "low", invoice.closed_at, ("payment_failed",), ("failed_payment",)
        )
        event_ids = [int(failure.id) for failure in failures]
        flags.append(_flag(s, invoice, raised, detail, event_ids=event_ids, settled=True))
    return flags


# --- helpers -------------------------------------------------------------------------


def _py(moment) -> datetime | None:
    """A pandas Timestamp as the aware datetime the rest of the app uses."""
    if moment is None or pd.isna(moment):
        return None
    return moment.to_pydatetime() if isinstance(moment, pd.Timestamp) else moment


def _deadline(value, s: Snapshot) -> datetime | None:
    """An evidence deadline from an attribute: an ISO instant, or a day
    (the end of it, in the client's zone)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        if len(str(value)) <= 10:  # a date alone
            moment = datetime.combine(moment.date(), time(23, 59, 59))
        moment = moment.replace(tzinfo=s.scope.zone)
    return moment.astimezone(UTC)
