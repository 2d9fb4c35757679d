"""Don't get ambushed: what is wrong with the account as it stands before the meeting.

Everything is read "as of" a moment (now, or the morning of a past meeting)
from the events and thread states of reports.briefing.frames: a thread is
open at that moment when it was opened before it and closed after it (or not
at all). The health score reads the same flags as of the start of the period
to say what changed, so no flag may depend on anything but the frames and
the scope.

Flags, and how severe each is (ranked most severe first, then oldest):
- open_dispute (critical): a charge the client disputed; the bank wants
  evidence by a deadline, and the money is already taken back;
- critical_alert (critical): an open alert of severity "critical", read from
  the thread's priority (Alertmanager's severity label) or the alert events'
  attribute `severity` (the generic format);
- stale_ticket (medium; high for high or urgent priority): a ticket open for
  `stale_days` days or more;
- sla_breach: a ticket open past its SLA (high; critical when urgent), or
  one solved in the period after its SLA (low: the client may bring it up);
- failed_payment: an open invoice whose payment failed (high), or a payment
  that failed in the period on an invoice settled since (low);
- overdue_invoice: an open invoice past its due date, in aging buckets of days
  overdue (1-30 medium, 31-60 and 61-90 high, 90+ critical);
- recurring_alert (high): the same check on the same device firing three or
  more times in the last 30 days, which asks for a problem ticket rather than
  one more incident;
- overdue_commitment (high): something we promised, open past its due time.

An invoice can be both a failed payment and overdue: the first asks for a new
payment method, the second for the money, as the client directory counts them.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from decimal import Decimal

import pandas as pd

from reports.briefing.model import SEVERITIES, AgingBucket, BucketTotal, Flag
from reports.briefing.phrasing import (
    day_text,
    days_between,
    duration_text,
    humanise,
    money_text,
    plural,
)
from reports.briefing.threads import ThreadEvents, records

KIND_LABELS = {
    "open_dispute": "Billing dispute",
    "critical_alert": "Critical alert",
    "overdue_invoice": "Overdue invoice",
    "failed_payment": "Failed payment",
    "stale_ticket": "Ticket open too long",
    "sla_breach": "SLA breach",
    "recurring_alert": "Recurring alert",
    "overdue_commitment": "Overdue commitment",
}
DEFAULT_STALE_DAYS = 30
CRITICAL = "critical"
URGENT_PRIORITIES = {"high", "urgent"}
# (label, first day overdue, last day overdue or None)
AGING_BUCKETS = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
BUCKET_SEVERITY = {"1-30": "medium", "31-60": "high", "61-90": "high", "90+": "critical"}
RECURRING_TIMES = 3
RECURRING_WINDOW = timedelta(days=30)
PROBLEM_TICKET = (
    "Open a problem ticket to find the root cause instead of handling each alert as a new incident."
)
# A commitment made this close to the last meeting was made in it.
SAME_MEETING = timedelta(days=1)


@dataclass(frozen=True)
class Scope:
    """The moment flags are read at, and what the reading depends on."""

    as_of: datetime
    period_start: datetime
    stale_days: int = DEFAULT_STALE_DAYS
    zone: tzinfo = UTC
    last_meeting_at: datetime | None = None


@dataclass
class Snapshot:
    """The frames cut to what existed at `scope.as_of`."""

    scope: Scope
    events: pd.DataFrame  # up to as_of
    entities: pd.DataFrame  # threads opened by as_of
    open: pd.DataFrame  # threads open at as_of
    threads: ThreadEvents

    @classmethod
    def take(
        cls,
        events: pd.DataFrame,
        entities: pd.DataFrame,
        scope: Scope,
        threads: ThreadEvents | None = None,
    ) -> "Snapshot":
        """`threads`, the ThreadEvents of the whole `events` frame, saves indexing
        it again for each moment a briefing reads it at."""
        existed = events["occurred_at"] <= scope.as_of
        count = int(existed.sum())
        # In time order (reports.briefing.frames), what existed is the frame's head.
        if threads is not None and bool(existed.iloc[:count].all()):
            threads = threads.until(count)
            events = events.iloc[:count]
        else:
            events = events[existed]
            threads = ThreadEvents(events)
        entities = entities[entities["opened_at"] <= scope.as_of]
        is_open = entities["closed_at"].isna() | (entities["closed_at"] > scope.as_of)
        return cls(scope, events, entities, entities[is_open], threads)

    def in_period(self, moments: pd.Series) -> pd.Series:
        return (moments > self.scope.period_start) & (moments <= self.scope.as_of)

    def day(self, moment) -> str:
        return day_text(moment, self.scope.zone, self.scope.as_of)


def find_flags(events: pd.DataFrame, entities: pd.DataFrame, scope: Scope) -> list[Flag]:
    """Every flag at `scope.as_of`, most severe first."""
    return snapshot_flags(Snapshot.take(events, entities, scope))


def snapshot_flags(s: Snapshot) -> list[Flag]:
    flags = [
        *dispute_flags(s),
        *critical_alert_flags(s),
        *ticket_flags(s),
        *invoice_flags(s),
        *recurring_alert_flags(s),
        *commitment_flags(s),
    ]
    return ranked(flags)


def ranked(flags: list[Flag]) -> list[Flag]:
    return sorted(flags, key=lambda f: (SEVERITIES.index(f.severity), -(f.age_days or 0)))


# --- tickets -------------------------------------------------------------------------


def ticket_flags(s: Snapshot) -> list[Flag]:
    """Tickets open too long or past their SLA, and tickets solved late in the period."""
    as_of, flags = s.scope.as_of, []
    stale_after = timedelta(days=s.scope.stale_days)
    for ticket in _rows(s.open, "ticket"):
        age = as_of - ticket.opened_at
        late_by = as_of - ticket.sla_due_at if _known(ticket.sla_due_at) else None
        priority = (ticket.priority or "").lower()
        if age >= stale_after:
            kind = "stale_ticket"
            severity = "high" if priority in URGENT_PRIORITIES else "medium"
            days = days_between(ticket.opened_at, as_of)
            detail = f"Open {days} days, since {s.day(ticket.opened_at)}"
            detail += f" ({ticket.status})" if ticket.status not in (None, "open") else ""
            if late_by is not None and late_by > timedelta(0):
                detail += f"; past its SLA by {duration_text(late_by)}"
        elif late_by is not None and late_by > timedelta(0):
            kind = "sla_breach"
            severity = CRITICAL if priority == "urgent" else "high"
            detail = (
                f"Open since {s.day(ticket.opened_at)}"
                + (f" ({priority} priority)" if priority else "")
                + f": its SLA ran out {duration_text(late_by)} ago"
            )
        else:
            continue
        flags.append(_ticket_flag(s, ticket, kind, severity, detail + ".", age))
    tickets = s.entities[s.entities["type"] == "ticket"]
    solved_late = tickets[
        s.in_period(tickets["closed_at"])
        & tickets["sla_due_at"].notna()
        & (tickets["closed_at"] > tickets["sla_due_at"])
    ]
    for ticket in records(solved_late):
        detail = (
            f"Solved on {s.day(ticket.closed_at)}, "
            f"{duration_text(ticket.closed_at - ticket.sla_due_at)} after its SLA"
            + (f" ({ticket.priority} priority)" if ticket.priority else "")
            + "."
        )
        age = ticket.closed_at - ticket.opened_at
        flags.append(_ticket_flag(s, ticket, "sla_breach", "low", detail, age))
    return flags


def _ticket_flag(s: Snapshot, ticket, kind, severity, detail, age: timedelta) -> Flag:
    return Flag(
        kind=kind,
        severity=severity,
        title=ticket.title or f"Ticket {ticket.key}",
        detail=detail,
        opened_at=_py(ticket.opened_at),
        age_days=int(age.total_seconds() // 86400),
        due_at=_py(ticket.sla_due_at),
        owner=ticket.assignee,
        thread_type="ticket",
        thread_key=ticket.key,
        event_ids=s.threads.ids("ticket", ticket.key),
    )


# --- billing -------------------------------------------------------------------------


def dispute_flags(s: Snapshot) -> list[Flag]:
    """Open disputes, with the amount, the reason and the evidence deadline."""
    flags = []
    for dispute in _rows(s.open, "dispute"):
        threads = s.threads
        reason = humanise(threads.attribute("dispute", dispute.key, "reason") or dispute.category)
        due = _py(dispute.due_at) if _known(dispute.due_at) else None
        due = due or _deadline(threads.attribute("dispute", dispute.key, "evidence_due_by"), s)
        disputed = money_text(dispute.amount, dispute.currency) or "A charge"
        detail = f"{disputed} disputed on {s.day(dispute.opened_at)}"
        detail += f", reason: {reason}" if reason else ""
        if due is None:
            detail += "; no evidence deadline on record."
        elif due < s.scope.as_of:
            detail += f"; the evidence was due {s.day(due)}."
        else:
            detail += f"; evidence due {s.day(due)} (in {duration_text(due - s.scope.as_of)})."
        flags.append(
            Flag(
                kind="open_dispute",
                severity=CRITICAL,
                title=dispute.title or f"Dispute {dispute.key}",
                detail=detail,
                opened_at=_py(dispute.opened_at),
                age_days=days_between(dispute.opened_at, s.scope.as_of),
                due_at=due,
                amount=dispute.amount,
                currency=dispute.currency,
                owner=dispute.assignee,
                thread_type="dispute",
                thread_key=dispute.key,
                event_ids=threads.ids("dispute", dispute.key),
            )
        )
    return flags


def invoice_flags(s: Snapshot) -> list[Flag]:
    """Unpaid invoices whose payment failed, overdue invoices, and payments
    that failed in the period on invoices settled since."""
    as_of, flags = s.scope.as_of, []
    events = s.events
    # Few invoices ever fail: only theirs are looked into.
    failing = set(events.loc[events["kind"] == "payment.failed", "thread_key"])
    for invoice in _rows(s.open, "invoice"):
        failures = _failures(s, invoice, failing)
        overdue = _known(invoice.due_at) and invoice.due_at < as_of
        if failures:
            last = failures[-1]
            detail = (
                f"{_attempts(failures)} failed, the last on {s.day(last.occurred_at)}"
                + _reason(last)
                + f"; {money_text(invoice.amount, invoice.currency) or 'the invoice'} unpaid"
                + (
                    ""
                    if overdue or not _known(invoice.due_at)
                    else f", due {s.day(invoice.due_at)}"
                )
                + "."
            )
            flags.append(
                _invoice_flag(s, invoice, "failed_payment", "high", detail, failures, last)
            )
        if overdue:
            days = max(1, days_between(invoice.due_at, as_of))
            bucket = aging_bucket(days)
            detail = (
                f"{money_text(invoice.amount, invoice.currency) or 'It'} was due "
                f"{s.day(invoice.due_at)}: {plural(days, 'day')} overdue ({bucket} days)."
            )
            flag = _invoice_flag(s, invoice, "overdue_invoice", BUCKET_SEVERITY[bucket], detail)
            flag.age_days, flag.aging_bucket = days, bucket
            flags.append(flag)
    invoices = s.entities[s.entities["type"] == "invoice"]
    settled = invoices[s.in_period(invoices["closed_at"]) & invoices["key"].isin(failing)]
    for invoice in records(settled):
        start = s.scope.period_start
        failures = [f for f in _failures(s, invoice, failing) if f.occurred_at > start]
        if not failures:
            continue
        last = failures[-1]
        detail = (
            f"{_attempts(failures)} failed, the last on {s.day(last.occurred_at)}{_reason(last)}; "
            f"{invoice.status} on {s.day(invoice.closed_at)}."
        )
        flags.append(_invoice_flag(s, invoice, "failed_payment", "low", detail, failures, last))
    return flags


def _invoice_flag(s, invoice, kind, severity, detail, failures=None, last=None) -> Flag:
    since = last.occurred_at if last is not None else invoice.opened_at
    ids = [f.id for f in failures] if failures else s.threads.ids("invoice", invoice.key)
    return Flag(
        kind=kind,
        severity=severity,
        title=invoice.title or f"Invoice {invoice.key}",
        detail=detail,
        opened_at=_py(invoice.opened_at),
        age_days=days_between(since, s.scope.as_of),
        due_at=_py(invoice.due_at) if _known(invoice.due_at) else None,
        amount=invoice.amount,
        currency=invoice.currency,
        owner=invoice.assignee,
        thread_type="invoice",
        thread_key=invoice.key,
        event_ids=[int(i) for i in ids],
    )


def _failures(s: Snapshot, invoice, failing: set) -> list:
    if invoice.key not in failing:
        return []
    return [row for row in s.threads.rows("invoice", invoice.key) if row.kind == "payment.failed"]


def _attempts(failures: list) -> str:
    return "1 payment attempt" if len(failures) == 1 else f"{len(failures)} payment attempts"


def _reason(failure) -> str:
    attributes = failure.attributes or {}
    reason = humanise(attributes.get("failure_reason") or attributes.get("failure_code"))
    return f" ({reason})" if reason else ""


def aging_bucket(days_overdue: int) -> str:
    for label, first, last in AGING_BUCKETS:
        if days_overdue >= first and (last is None or days_overdue <= last):
            return label
    return AGING_BUCKETS[0][0]


def aging_summary(flags: list[Flag]) -> list[AgingBucket]:
    """Overdue invoices per aging bucket, with the total in each currency."""
    counts: dict[str, int] = defaultdict(int)
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    ids: dict[str, list[int]] = defaultdict(list)
    for flag in flags:
        if flag.kind != "overdue_invoice":
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


def critical_alert_flags(s: Snapshot) -> list[Flag]:
    flags = []
    for alert in _rows(s.open, "alert"):
        severity = alert.priority or s.threads.attribute("alert", alert.key, "severity") or ""
        if str(severity).lower() != CRITICAL:
            continue
        device = s.threads.attribute("alert", alert.key, "instance")
        firing = s.scope.as_of - alert.opened_at
        detail = (
            f"Firing since {s.day(alert.opened_at)} ({duration_text(firing)})"
            + (f" on {device}" if device and str(device) not in (alert.title or "") else "")
            + "."
        )
        flags.append(
            Flag(
                kind="critical_alert",
                severity=CRITICAL,
                title=alert.title or f"Alert {alert.key}",
                detail=detail,
                opened_at=_py(alert.opened_at),
                age_days=int(firing.total_seconds() // 86400),
                owner=alert.assignee,
                thread_type="alert",
                thread_key=alert.key,
                event_ids=s.threads.ids("alert", alert.key),
            )
        )
    return flags


def recurring_alert_flags(s: Snapshot) -> list[Flag]:
    """The same check on the same device firing RECURRING_TIMES or more in 30 days."""
    as_of = s.scope.as_of
    events = s.events
    raised = events[
        (events["kind"] == "alert.raised") & (events["occurred_at"] > as_of - RECURRING_WINDOW)
    ]
    occurrences: dict[tuple[str, str], list] = defaultdict(list)
    # Only what the flag reads: a busy client raises thousands of alerts a month.
    for alert in records(raised[["id", "occurred_at", "thread_key", "attributes"]]):
        device, check = alert.attributes.get("instance"), alert.attributes.get("alertname")
        if device and check:
            occurrences[(str(device), str(check))].append(alert)
    firing = set(s.open.loc[s.open["type"] == "alert", "key"])
    flags = []
    for (device, check), rows in occurrences.items():
        if len(rows) < RECURRING_TIMES:
            continue
        first, last = rows[0], rows[-1]
        still_firing = last.thread_key in firing
        detail = (
            f"Fired {len(rows)} times in the last 30 days, from {s.day(first.occurred_at)} "
            f"to {s.day(last.occurred_at)}" + ("; firing now." if still_firing else ".")
        )
        flags.append(
            Flag(
                kind="recurring_alert",
                severity="high",
                title=f"{check} on {device}",
                detail=detail,
                opened_at=_py(first.occurred_at),
                age_days=days_between(first.occurred_at, as_of),
                thread_type="alert" if last.thread_key else None,
                thread_key=last.thread_key,
                suggestion=PROBLEM_TICKET,
                event_ids=[int(row.id) for row in rows],
            )
        )
    return sorted(flags, key=lambda f: -len(f.event_ids))


# --- commitments ---------------------------------------------------------------------


def commitment_flags(s: Snapshot) -> list[Flag]:
    """What we promised and have not done by its due time."""
    as_of, meeting, flags = s.scope.as_of, s.scope.last_meeting_at, []
    commitments = s.open[s.open["type"] == "commitment"]
    for promise in records(commitments[commitments["due_at"] < as_of]):
        at_meeting = meeting is not None and abs(promise.opened_at - meeting) <= SAME_MEETING
        detail = (
            f"Promised on {s.day(promise.opened_at)}"
            + (" at the last meeting" if at_meeting else "")
            + f", due {s.day(promise.due_at)}: {duration_text(as_of - promise.due_at)} overdue."
        )
        flags.append(
            Flag(
                kind="overdue_commitment",
                severity="high",
                title=promise.title or f"Commitment {promise.key}",
                detail=detail,
                opened_at=_py(promise.opened_at),
                age_days=days_between(promise.due_at, as_of),
                due_at=_py(promise.due_at),
                owner=promise.assignee,
                thread_type="commitment",
                thread_key=promise.key,
                event_ids=s.threads.ids("commitment", promise.key),
            )
        )
    return flags


# --- helpers -------------------------------------------------------------------------


def _rows(frame: pd.DataFrame, entity_type: str) -> list:
    return records(frame[frame["type"] == entity_type])


def _known(moment) -> bool:
    return moment is not None and not pd.isna(moment)


def _py(moment) -> datetime | None:
    """A pandas Timestamp as the aware datetime the rest of the app uses."""
    if not _known(moment):
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
