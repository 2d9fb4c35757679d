"""What a briefing holds: a tree of dataclasses, the same for the page, the PDF and the API.

Every item that states a fact about the client keeps `event_ids`, the ids of
the timeline events it was read from, so any line of a briefing can be traced
back to the timeline (counts in "the period in numbers" are traced instead by
a link to the timeline filtered to the same days and sources: there can be
thousands of them).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from crm import flags as rules
from crm.flags import SEVERITIES  # noqa: F401 - most severe first; flags rank in this order
from crm.money import Total
from crm.revenue import Mrr

# A flag's kind as the briefing names it ("Late ticket").
# How much a briefing shows (reports.briefing.bounds cuts to it; the SQL path
# reads no more): flag lines, items of each talking-point list, and the event
# ids a grouped line keeps (its oldest threads': a sample, not all).
SHOWN_FLAGS = 20
SHOWN_POINTS = 10
GROUPED_IDS = 50

KIND_LABELS = {kind: label.capitalize() for kind, label in rules.LABELS.items()}


@dataclass
class Flag:
    """Something that must not surprise the account manager in the meeting."""

    kind: str  # late_ticket, open_dispute, failed_payment, ... (crm.flags.KINDS)
    severity: str  # one of SEVERITIES
    title: str  # the thread's own title ("Phones drop calls intermittently")
    detail: str  # one sentence with the figures that matter
    opened_at: datetime | None = None
    since: datetime | None = None  # when the wait began: what age_days counts from
    age_days: int | None = None  # whole days since `since` (crm.formatting.whole_days)
    due_at: datetime | None = None
    amount: Decimal | None = None
    currency: str | None = None
    owner: str | None = None
    thread_type: str | None = None
    thread_key: str | None = None
    thread_url: str | None = None  # the thread page, set once the client is known
    aging_bucket: str | None = None  # overdue invoices: "1-30", "31-60", "61-90", "90+"
    suggestion: str | None = None
    facets: list[str] = field(default_factory=list)  # why (crm.flags): past_sla, overdue, ...
    settled: bool = False  # what the period settled (solved late, paid after failing)
    event_ids: list[int] = field(default_factory=list)
    device: str | None = None  # an alert's device, which alerts are grouped by
    count: int = 1  # the threads this line tells of (critical alerts grouped by check and device)


@dataclass
class BucketTotal:
    currency: str
    amount: Decimal


@dataclass
class AgingBucket:
    """Overdue invoices whose days past due fall in one bucket."""

    label: str
    count: int
    totals: list[BucketTotal]
    event_ids: list[int] = field(default_factory=list)


@dataclass
class TalkingPoint:
    """A line to bring up, phrased the way one would say it."""

    kind: str  # work_done, deal_won, renewal_due, open_quote, campaign
    text: str
    at: datetime | None = None  # when it happened, or when it is due
    amount: Decimal | None = None
    currency: str | None = None
    thread_type: str | None = None
    thread_key: str | None = None
    thread_url: str | None = None
    event_ids: list[int] = field(default_factory=list)


@dataclass
class TalkingPoints:
    work_done: list[TalkingPoint]
    deals_won: list[TalkingPoint]
    renewals_due: list[TalkingPoint]
    open_quotes: list[TalkingPoint]
    campaigns: list[TalkingPoint]
    totals: dict[str, int] = field(default_factory=dict)  # each list's length before bounding
    more_urls: dict[str, str] = field(default_factory=dict)  # where a list continues


@dataclass
class HealthDriver:
    """What one kind of flag costs the health score, now and in the previous period."""

    kind: str
    label: str
    count: int
    points: int  # taken off the score
    previous_count: int
    previous_points: int
    event_ids: list[int] = field(default_factory=list)

    @property
    def change(self) -> int:
        """How this driver moved the score since the previous period (+ is better)."""
        return self.previous_points - self.points


@dataclass
class Health:
    score: int
    previous_score: int
    drivers: list[HealthDriver]  # the ones that cost points now or before, biggest mover first

    @property
    def change(self) -> int:
        return self.score - self.previous_score


@dataclass
class SourceCount:
    source: str
    count: int
    previous: int
    timeline_url: str | None = None


@dataclass
class Revenue:
    """Money in one currency over the period: never converted between currencies."""

    currency: str
    invoiced: Decimal
    collected: Decimal
    refunded: Decimal
    previous_invoiced: Decimal
    previous_collected: Decimal


@dataclass
class MonthActivity:
    month: date  # the first day of the month, in the client's time zone
    by_source: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass
class MonthTickets:
    month: date
    opened: int
    resolved: int


@dataclass
class MonthAlerts:
    """Alerts raised and resolved in a month: each time an alert fired counts."""

    month: date
    raised: int
    resolved: int


@dataclass
class Numbers:
    touches: list[SourceCount]
    tickets_opened: int
    tickets_resolved: int
    previous_tickets_opened: int
    previous_tickets_resolved: int
    revenue: list[Revenue]
    activity: list[MonthActivity]  # twelve months, oldest first
    ticket_trend: list[MonthTickets]
    # Alerts: occurrences (reports.briefing.numbers), this period and the one before.
    alerts_raised: int = 0
    alerts_resolved: int = 0
    previous_alerts_raised: int = 0
    previous_alerts_resolved: int = 0
    alerts_timed: int = 0  # the alerts resolved in the period whose raise is on record
    median_time_to_resolve: timedelta | None = None
    alert_trend: list[MonthAlerts] = field(default_factory=list)
    tickets_url: str | None = None
    billing_url: str | None = None
    alerts_url: str | None = None


@dataclass
class ClientSummary:
    slug: str
    name: str
    tier: str
    status: str
    groups: list[str]
    account_manager: str | None
    timezone: str
    url: str


@dataclass
class Period:
    """The briefing covers `start` to `end`; `end` is now, or the morning of a past meeting."""

    meeting_date: date
    start: datetime
    end: datetime
    previous_start: datetime
    last_meeting_at: datetime | None
    last_meeting_event_id: int | None

    @property
    def days(self) -> int:
        return max(0, round((self.end - self.start).total_seconds() / 86400))


@dataclass
class MoneyTotals:
    """The briefing's sums across currencies in the reporting currency
    (crm.money), and the rates they were converted at."""

    reporting: str
    rates_stated: str
    aging: list[Total]  # one per aging bucket, in the buckets' order
    overdue: Total  # every overdue invoice
    invoiced: Total
    collected: Total
    refunded: Total
    aging_converted: bool  # whether the aging table needs a converted row
    revenue_converted: bool  # whether the revenue table does


@dataclass
class Briefing:
    client: ClientSummary
    period: Period
    generated_at: datetime
    stale_ticket_days: int
    health: Health
    flags: list[Flag]
    aging: list[AgingBucket]
    talking_points: TalkingPoints
    numbers: Numbers
    # Set by reports.briefing.bounds: `flags` then holds the first few, grouped.
    flag_total: int = 0  # every flag, each thread one
    severity_counts: dict[str, int] = field(default_factory=dict)  # over every flag
    more_flags: int = 0  # lines not shown
    more_flags_url: str | None = None
    money: MoneyTotals | None = None  # set by reports.briefing.money
    # recurring revenue per month at the period's end and start (crm.revenue),
    # set by reports.briefing.money.recurring_revenue
    mrr: Mrr | None = None
    previous_mrr: Mrr | None = None
