"""Flags: what must not surprise whoever speaks to a client next, each defined once.

Four places show them: the client directory counts them (SQL, for a page of
clients at a time), the pre-contact card names them (one client's open
threads), the briefing explains them (one client's pandas frames, read at a
moment that may be past) and the portfolio report ranks them across clients.
All four read the rules here, so a client is flagged for the same things,
as severely and as old, wherever one looks.

**A thread's flag.** Each thread type that can go wrong has one rule: the
*facets* that make one of its threads a problem, each a condition on the
thread's state (crm.models.Entity) at a moment. A condition is declared once,
as a small expression (crm.flags.conditions: Passed, Is, ...) that gives both
a SQL condition over the entities table and a test of one thread in Python
(an Entity, or a row of a briefing's frame); tests/test_flag_rules.py checks
that the two agree on many generated thread states. A thread raises at most one flag however many
of its facets hold, named by the first facet that holds: a failed payment on
an overdue invoice is one problem, an overdue invoice whose payment failed,
shown and scored once.

| flag               | thread     | facets, in order                               | severity      |
|--------------------|------------|------------------------------------------------|---------------|
| open_dispute       | dispute    | open                                           | critical      |
| critical_alert     | alert      | priority "critical" (Alertmanager's severity)  | critical      |
| overdue_invoice    | invoice    | past its due date                              | medium, grows |
| failed_payment     | invoice    | status "failed": its latest attempt failed     | high          |
| late_ticket        | ticket     | past its SLA; open stale_ticket_days or more   | high / medium |
| recurring_alert    | events     | one check on one device 3+ times in 30 days    | high          |
| overdue_commitment | commitment | past its due time                              | high, grows   |

An alert is critical by its thread's priority alone, where the Alertmanager
and Grafana connectors put the `severity` label and the generic format its
`priority` field; an event attribute `severity` is not read.

**Severity grows with harm.** A late ticket is high when past its SLA
(critical when urgent), medium when merely open too long (high for a high
or urgent priority); an overdue invoice is medium. Each then rises a step
once it is more than 30 days late and two once it is more than 90 (the aging
buckets): a ticket 38 days past its SLA is critical, above a password reset
that missed its SLA yesterday. Flags rank by severity, then the longest
waiting first (`since`: when a dispute, alert or ticket opened, an invoice
or promise fell due, a payment last failed, a recurrence began).

**Open** means opened by the moment and not closed by it. Read at the
present (the state as stored), any recorded closing counts; read at a past
moment (a briefing's picture of the start of its period), a thread closed
after that moment was still open then.

**Recurring alerts** are occurrences, not threads: the alert.raised events
in the 30 days up to the moment, by the device (attribute `instance`) and
the check (`alertname`) they name, each group of three or more a flag
(crm.flags.recurring).

**What lies ahead** is not a flag but is read the same way: a renewal due
within RENEWAL_HORIZON (or past due and not settled) and an open quote
count whatever their opened time, since a record may date a renewal at the
renewal day itself.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from crm.flags.conditions import Always, Condition, Is, Passed, value
from crm.flags.recurring import (
    RECURRING_TIMES,
    RECURRING_WINDOW,
    RaisedAlert,
    Recurrence,
    latest_thread_sql,
    raised_alert,
    raised_in_window,
    recurrences,
    recurring_sql,
    recurring_with_thread_sql,
    recurs_sql,
)
from crm.flags.severity import AGING_BUCKETS, SEVERITIES, Severity, aging_bucket
from crm.models import Entity

__all__ = [
    "AGING_BUCKETS",
    "AHEAD_TYPES",
    "FLAGGED_TYPES",
    "KINDS",
    "LABELS",
    "RECURRING_TIMES",
    "RECURRING_WINDOW",
    "RENEWAL_HORIZON",
    "RULES",
    "SEVERITIES",
    "THREAD_KINDS",
    "Always",
    "Condition",
    "FlagSettings",
    "Is",
    "Passed",
    "Raised",
    "RaisedAlert",
    "Recurrence",
    "aging_bucket",
    "facet_sql",
    "flag_of",
    "is_open",
    "is_pending",
    "kind_sql",
    "latest_thread_sql",
    "open_quote",
    "raised_alert",
    "raised_in_window",
    "rank",
    "rank_of",
    "recurrences",
    "recurring_sql",
    "recurring_with_thread_sql",
    "recurs_sql",
    "renewal_due",
    "rule_sql",
    "summary",
    "value",
]

CRITICAL = "critical"
URGENT_PRIORITIES = ("high", "urgent")
DEFAULT_STALE_TICKET_DAYS = 30
RENEWAL_HORIZON = timedelta(days=90)
AHEAD_TYPES = ("renewal", "deal")


@dataclass(frozen=True)
class FlagSettings:
    """What an installation decides about its flags (TOUCHLINE_BRIEFING_STALE_TICKET_DAYS)."""

    stale_ticket_days: int = DEFAULT_STALE_TICKET_DAYS

    @classmethod
    def from_config(cls, config: Mapping) -> "FlagSettings":
        days = config.get("BRIEFING_STALE_TICKET_DAYS", DEFAULT_STALE_TICKET_DAYS)
        return cls(stale_ticket_days=int(days))

    @property
    def stale_after(self) -> timedelta:
        return timedelta(days=self.stale_ticket_days)


DEFAULT_SETTINGS = FlagSettings()


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # how a sentence names one ("late ticket"); plural with an s
    since: str | None  # the thread's column its age counts from


# In the order a list of kinds is read, most pressing first.
KINDS = {
    kind.name: kind
    for kind in (
        Kind("open_dispute", "open dispute", "opened_at"),
        Kind("critical_alert", "critical alert", "opened_at"),
        Kind("failed_payment", "failed payment", "last_event_at"),
        Kind("overdue_invoice", "overdue invoice", "due_at"),
        Kind("late_ticket", "late ticket", "opened_at"),
        Kind("recurring_alert", "recurring alert", None),
        Kind("overdue_commitment", "overdue commitment", "due_at"),
    )
}
LABELS = {name: kind.label for name, kind in KINDS.items()}
_KIND_ORDER = {name: position for position, name in enumerate(KINDS)}


def _stale(settings: FlagSettings) -> timedelta:
    return settings.stale_after


# --- severity (crm.flags.severity) -------------------------------------------------

_CRITICAL = Severity(CRITICAL)
_HIGH = Severity("high")
_INVOICE_OVERDUE = Severity("medium", grows_from="due_at")
_PAST_SLA = Severity("high", by_priority=((("urgent",), CRITICAL),), grows_from="sla_due_at")
_OPEN_TOO_LONG = Severity(
    "medium", by_priority=((URGENT_PRIORITIES, "high"),), grows_from="opened_at", later=_stale
)
_PROMISE_OVERDUE = Severity("high", grows_from="due_at")


# --- the rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class Facet:
    name: str
    kind: str  # the flag the thread raises when this is the first facet that holds
    condition: Condition
    severity: Severity  # how severe, when it holds


@dataclass(frozen=True)
class ThreadRule:
    thread_type: str
    facets: tuple[Facet, ...]

    def facet(self, name: str) -> Facet:
        return next(facet for facet in self.facets if facet.name == name)


RULES = {
    rule.thread_type: rule
    for rule in (
        ThreadRule("dispute", (Facet("open", "open_dispute", Always(), _CRITICAL),)),
        ThreadRule(
            "alert",
            (Facet("critical", "critical_alert", Is("priority", (CRITICAL,), True), _CRITICAL),),
        ),
        ThreadRule(
            "invoice",
            (
                Facet("overdue", "overdue_invoice", Passed("due_at"), _INVOICE_OVERDUE),
                Facet("payment_failed", "failed_payment", Is("status", ("failed",)), _HIGH),
            ),
        ),
        ThreadRule(
            "ticket",
            (
                Facet("past_sla", "late_ticket", Passed("sla_due_at"), _PAST_SLA),
                Facet(
                    "open_too_long",
                    "late_ticket",
                    Passed("opened_at", _stale, inclusive=True),
                    _OPEN_TOO_LONG,
                ),
            ),
        ),
        ThreadRule(
            "commitment",
            (Facet("overdue", "overdue_commitment", Passed("due_at"), _PROMISE_OVERDUE),),
        ),
    )
}
FLAGGED_TYPES = tuple(RULES)
THREAD_KINDS = tuple(dict.fromkeys(f.kind for rule in RULES.values() for f in rule.facets))


@dataclass(frozen=True)
class Raised:
    """The flag one thread raises at a moment."""

    kind: str
    severity: str
    since: datetime  # when the wait began, which the flag's age counts from
    facets: tuple[str, ...]  # the facets that hold, in the rule's order
    facet_kinds: tuple[str, ...]  # the flags those facets would raise alone

    @property
    def label(self) -> str:
        return LABELS[self.kind]


def is_open(thread, at: datetime, *, present: bool = True) -> bool:
    """Whether `thread` was open at `at` (see the module's docstring)."""
    opened, closed = value(thread, "opened_at"), value(thread, "closed_at")
    if opened is None or opened > at:
        return False
    return closed is None or (not present and closed > at)


def open_sql(at: datetime, *, present: bool = True) -> ColumnElement:
    """is_open as SQL (at the present unless `present` is False)."""
    pending = Entity.closed_at.is_(None)
    if not present:
        pending = or_(pending, Entity.closed_at > at)
    return and_(pending, Entity.opened_at <= at)


def flag_of(
    thread, at: datetime, settings: FlagSettings = DEFAULT_SETTINGS, *, present: bool = True
) -> Raised | None:
    """The flag `thread` raises at `at`, if any."""
    rule = RULES.get(value(thread, "type"))
    if rule is None or not is_open(thread, at, present=present):
        return None
    holding = [facet for facet in rule.facets if facet.condition.holds(thread, at, settings)]
    if not holding:
        return None
    kind = holding[0].kind
    severity = min(
        (facet.severity.of(thread, at, settings) for facet in holding), key=SEVERITIES.index
    )
    since = value(thread, KINDS[kind].since) or value(thread, "opened_at")
    return Raised(
        kind=kind,
        severity=severity,
        since=since,
        facets=tuple(facet.name for facet in holding),
        facet_kinds=tuple(dict.fromkeys(facet.kind for facet in holding)),
    )


def kind_sql(kind: str, at: datetime, settings: FlagSettings = DEFAULT_SETTINGS):
    """The threads whose flag at `at` (the present) is `kind`, as SQL: open, and
    the first of their rule's facets that holds is one of `kind`'s."""
    cases = []
    for rule in RULES.values():
        before: list[ColumnElement] = []
        for facet in rule.facets:
            condition = facet.condition.sql(at, settings)
            if facet.kind == kind:
                cases.append(
                    and_(Entity.type == rule.thread_type, condition, *(not_(c) for c in before))
                )
            else:
                before.append(condition)
    return and_(open_sql(at), or_(*cases))


def rule_sql(thread_type: str, at: datetime, settings: FlagSettings = DEFAULT_SETTINGS):
    """The threads of `thread_type` that raise a flag at `at` (the present), as SQL."""
    rule = RULES[thread_type]
    return and_(
        Entity.type == thread_type,
        open_sql(at),
        or_(*(facet.condition.sql(at, settings) for facet in rule.facets)),
    )


def facet_sql(thread_type: str, facet: str, at: datetime, settings=DEFAULT_SETTINGS):
    """The open threads of `thread_type` whose facet `facet` holds at `at`, as SQL
    (the directory's overdue amounts: every overdue invoice, failed or not)."""
    condition = RULES[thread_type].facet(facet).condition.sql(at, settings)
    return and_(Entity.type == thread_type, open_sql(at), condition)


# --- what lies ahead -----------------------------------------------------------------


def is_pending(thread, at: datetime, *, present: bool = True) -> bool:
    """Not settled by `at`, whenever it opened: a renewal or quote the records
    date in the future is ahead all the same."""
    closed = value(thread, "closed_at")
    return closed is None or (not present and closed > at)


def renewal_due(thread, at: datetime, *, present: bool = True) -> bool:
    """A renewal due within RENEWAL_HORIZON of `at`, or past due and not settled.
    One without a date cannot be said to be coming up."""
    due = value(thread, "due_at")
    return (
        value(thread, "type") == "renewal"
        and due is not None
        and due <= at + RENEWAL_HORIZON
        and is_pending(thread, at, present=present)
    )


def open_quote(thread, at: datetime, *, present: bool = True) -> bool:
    return value(thread, "type") == "deal" and is_pending(thread, at, present=present)


# --- reading flags -------------------------------------------------------------------


def rank(flag) -> tuple:
    """Most severe first, then the longest waiting, then in the order of KINDS:
    a sort key for anything with a kind, a severity and a since."""
    return rank_of(flag.kind, flag.severity, flag.since)


def rank_of(kind: str, severity: str, since: datetime) -> tuple:
    return (SEVERITIES.index(severity), since, _KIND_ORDER[kind])


def summary(flags: Iterable) -> list[str]:
    """ "2 late tickets", "1 open dispute": per kind, the most severe kind first."""
    flags = list(flags)
    counts: dict[str, int] = defaultdict(int)
    for flag in flags:
        counts[flag.kind] += 1
    return summary_of(counts, worst_of(flags))


def worst_of(flags: Iterable) -> dict[str, str]:
    """Each kind's most severe severity among `flags`."""
    worst: dict[str, str] = {}
    for flag in flags:
        worst[flag.kind] = min(
            worst.get(flag.kind, flag.severity), flag.severity, key=SEVERITIES.index
        )
    return worst


def summary_of(counts: Mapping[str, int], worst: Mapping[str, str]) -> list[str]:
    """summary() from counts per kind and each kind's worst severity, for a view
    that counts its flags in SQL rather than holding them all (the card)."""
    ordered = sorted(
        (kind for kind, count in counts.items() if count),
        key=lambda kind: (SEVERITIES.index(worst.get(kind, "low")), _KIND_ORDER[kind]),
    )
    return [f"{counts[kind]} {LABELS[kind]}{'s' if counts[kind] > 1 else ''}" for kind in ordered]
