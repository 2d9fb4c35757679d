"""The period in numbers, the twelve-month series behind the charts, and the health score.

**Health score** (0-100), read from the flags (reports.briefing.flags) by
the one rule in crm.health, which the directory reads too. The same
formula over the flags as they stood at the start of the period gives the
previous score; the change is the difference. Each kind of flag is a
*driver*: what it costs now and cost then, with the events behind it, so the
briefing can say which drivers moved the score.

Periods are half-open, (start, end]: the last meeting itself, at `start`, is
not part of the period since it. Money is summed per currency and never
converted. Months are the client's calendar months.

**Alerts** count occurrences: every time an alert fired is one `alert.raised`
(a resolved notification implies the raise of an alert never seen firing,
connectors.alertmanager), and every time it cleared one `alert.resolved`,
whether each occurrence has a thread of its own (Alertmanager's) or an RMM
reuses one thread for a check that fires again. An alert's time to resolve is
from the last raise of its thread before it cleared to the moment it cleared.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

import pandas as pd

from crm import health as rule
from crm.vocabulary import KINDS, SOURCES
from reports.briefing.model import (
    KIND_LABELS,
    Flag,
    Health,
    HealthDriver,
    MonthActivity,
    MonthAlerts,
    MonthTickets,
    Numbers,
    Revenue,
    SourceCount,
)

CHART_MONTHS = 12
TICKET_FLOW = ("ticket.opened", "ticket.resolved")
ALERT_FLOW = ("alert.raised", "alert.resolved")
# billing kind -> the Revenue figure it adds to
MONEY_KINDS = {
    "invoice.issued": "invoiced",
    "payment.received": "collected",
    "refund.issued": "refunded",
}


# --- health --------------------------------------------------------------------------


def health(flags: list[Flag], previous_flags: list[Flag]) -> Health:
    ids: dict[str, list[int]] = defaultdict(list)
    for flag in flags:
        ids[flag.kind] += flag.event_ids
    return health_of(flag_tally(flags), flag_tally(previous_flags), ids)


def flag_tally(flags: Iterable[Flag]) -> Counter:
    """(kind, severity) -> how many of `flags` are so."""
    return Counter((flag.kind, flag.severity) for flag in flags)


def health_of(now: Mapping, before: Mapping, ids: Mapping[str, list[int]]) -> Health:
    """The score now and at the start of the period from the flags of each
    (kind, severity) then (flag_tally; or counted by the database,
    reports.briefing.census), each driver with the events behind it (`ids`
    per kind: a bounded briefing's are those of the flags it shows)."""
    costs, previous = _costs(now), _costs(before)
    drivers = []
    for kind, label in KIND_LABELS.items():
        count, points = costs.get(kind, (0, 0))
        previous_count, previous_points = previous.get(kind, (0, 0))
        if points or previous_points:
            drivers.append(
                HealthDriver(
                    kind, label, count, points, previous_count, previous_points, ids.get(kind, [])
                )
            )
    drivers.sort(key=lambda d: (-abs(d.change), -d.points))
    return Health(
        score=rule.score(d.points for d in drivers),
        previous_score=rule.score(d.previous_points for d in drivers),
        drivers=drivers,
    )


def _costs(counts: Mapping) -> dict[str, tuple[int, int]]:
    """kind -> (flags, points it costs)."""
    severities: dict[str, list[str]] = defaultdict(list)
    for (kind, severity), count in counts.items():
        severities[kind] += [severity] * count
    return {
        kind: (len(found), rule.kind_points(found)) for kind, found in severities.items() if found
    }


# --- the period ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What a period's figures are made of: events per kind (each kind names
    its source, crm.vocabulary), and the known amounts of the billing kinds
    summed per (kind, currency). Counted from a frame here, or by the
    database (reports.briefing.census), which gives the same."""

    counts: dict[str, int]
    money: dict[tuple[str, str | None], Decimal]


def tally(events: pd.DataFrame) -> Tally:
    counts = {str(kind): int(n) for kind, n in events["kind"].value_counts().items() if n}
    money = events[events["kind"].isin(tuple(MONEY_KINDS)) & events["amount"].notna()]
    sums: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    for kind, amount, currency in zip(
        money["kind"], money["amount"], money["currency"], strict=True
    ):
        sums[(str(kind), currency)] += Decimal(amount)
    return Tally(counts, dict(sums))


def period_numbers(
    events: pd.DataFrame,
    *,
    period_start: datetime,
    previous_start: datetime,
    as_of: datetime,
    zone: tzinfo,
    months: pd.DataFrame | None = None,
) -> Numbers:
    """The figures of the period and the one before, from `events`; the charts
    from `months` (reports.briefing.frames' counts per month, source and kind),
    or, without it, from the events."""
    durations = times_to_resolve(events, period_start, as_of)
    return numbers_of(
        tally(_between(events, period_start, as_of)),
        tally(_between(events, previous_start, period_start)),
        (len(durations), median(durations)),
        months if months is not None else with_months(events, as_of, zone),
        as_of,
        zone,
    )


def numbers_of(
    now: Tally,
    before: Tally,
    timed: tuple[int, timedelta | None],
    months: pd.DataFrame,
    as_of: datetime,
    zone: tzinfo,
) -> Numbers:
    """The period's figures from its tally and the previous period's, how
    many of its alerts were timed to clear and the median time they took,
    and the chart months' counts."""
    opened, resolved = _flow(now, TICKET_FLOW)
    previous_opened, previous_resolved = _flow(before, TICKET_FLOW)
    raised, cleared = _flow(now, ALERT_FLOW)
    previous_raised, previous_cleared = _flow(before, ALERT_FLOW)
    return Numbers(
        touches=touches(now, before),
        tickets_opened=opened,
        tickets_resolved=resolved,
        previous_tickets_opened=previous_opened,
        previous_tickets_resolved=previous_resolved,
        revenue=revenue(now, before),
        activity=_activity(months, as_of, zone, CHART_MONTHS),
        ticket_trend=_tickets(months, as_of, zone, CHART_MONTHS),
        alerts_raised=raised,
        alerts_resolved=cleared,
        previous_alerts_raised=previous_raised,
        previous_alerts_resolved=previous_cleared,
        alerts_timed=timed[0],
        median_time_to_resolve=timed[1],
        alert_trend=_alerts(months, as_of, zone, CHART_MONTHS),
    )


def touches(now: Tally, before: Tally) -> list[SourceCount]:
    """Events per source in the period and the one before, every source listed."""
    current, previous = _by_source(now), _by_source(before)
    return [
        SourceCount(source, current.get(source, 0), previous.get(source, 0)) for source in SOURCES
    ]


def _by_source(period: Tally) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for kind, count in period.counts.items():
        counts[KINDS[kind].source] += count
    return counts


def _flow(period: Tally, kinds: tuple[str, str]) -> tuple[int, int]:
    """(events of the first kind, of the second): tickets opened and solved,
    alerts raised and resolved (occurrences, not threads)."""
    return period.counts.get(kinds[0], 0), period.counts.get(kinds[1], 0)


def times_to_resolve(events: pd.DataFrame, start: datetime, end: datetime) -> list[timedelta]:
    """How long each alert that cleared in (start, end] had been firing: from
    the last raise of its thread at or before it cleared. An alert cleared
    without a raise on record (a thread that began with its resolve) is left
    out; the events frame holds every event of the alerts closed in the period
    (reports.briefing.frames)."""
    alerts = events[events["kind"].isin(ALERT_FLOW) & events["thread_key"].notna()]
    moments = alerts["occurred_at"]
    cleared = alerts[(alerts["kind"] == ALERT_FLOW[1]) & (moments > start) & (moments <= end)]
    raised = alerts[alerts["kind"] == ALERT_FLOW[0]]
    if cleared.empty or raised.empty:
        return []
    paired = pd.merge_asof(
        cleared[["thread_key", "occurred_at"]].sort_values("occurred_at"),
        raised[["thread_key", "occurred_at"]]
        .rename(columns={"occurred_at": "raised_at"})
        .sort_values("raised_at"),
        left_on="occurred_at",
        right_on="raised_at",
        by="thread_key",
        direction="backward",
    ).dropna(subset=["raised_at"])
    return [span.to_pytimedelta() for span in paired["occurred_at"] - paired["raised_at"]]


def median(durations: list[timedelta]) -> timedelta | None:
    """The middle duration, or the mean of the middle two."""
    if not durations:
        return None
    ordered = sorted(durations)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def revenue(now: Tally, before: Tally) -> list[Revenue]:
    """Invoiced, collected and refunded per currency; the previous period alongside."""
    current, previous = _money(now), _money(before)
    zero = Decimal(0)
    return [
        Revenue(
            currency=currency,
            invoiced=current[currency]["invoiced"],
            collected=current[currency]["collected"],
            refunded=current[currency]["refunded"],
            previous_invoiced=previous.get(currency, {}).get("invoiced", zero),
            previous_collected=previous.get(currency, {}).get("collected", zero),
        )
        for currency in sorted(current)
    ]


def _money(period: Tally) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {figure: Decimal(0) for figure in MONEY_KINDS.values()}
    )
    for (kind, currency), amount in period.money.items():
        totals[currency or "XXX"][MONEY_KINDS[kind]] += amount
    return totals


def _between(events: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    moments = events["occurred_at"]
    return events[(moments > start) & (moments <= end)]


# --- twelve months -------------------------------------------------------------------


def chart_start(as_of: datetime, zone: tzinfo, months: int = CHART_MONTHS) -> datetime:
    """Midnight (client time) on the first day of the oldest month the charts show."""
    local = as_of.astimezone(zone)
    index = local.year * 12 + local.month - 1 - (months - 1)
    return datetime.combine(_month(index), time(0), zone)


def chart_months(as_of: datetime, zone: tzinfo, months: int = CHART_MONTHS) -> list[datetime]:
    """Midnight (client time) on the first day of each month the charts show, oldest first."""
    return [
        datetime.combine(_month(index), time(0), zone)
        for index in _last_months(as_of, zone, months)
    ]


def with_months(events: pd.DataFrame, as_of: datetime, zone: tzinfo, months: int = CHART_MONTHS):
    """The events of the last `months` months counted as the months frame of
    reports.briefing.frames counts them: one row each, with its month
    (year * 12 + month - 1, in the client's calendar), source and kind."""
    recent = events[
        (events["occurred_at"] >= chart_start(as_of, zone, months))
        & (events["occurred_at"] <= as_of)
    ]
    local = recent["occurred_at"].dt.tz_convert(zone)
    month = local.dt.year * 12 + local.dt.month - 1
    return pd.DataFrame(
        {"month": month, "source": recent["source"], "kind": recent["kind"], "count": 1}
    )


def monthly_activity(
    events: pd.DataFrame, as_of: datetime, zone: tzinfo, months: int = CHART_MONTHS
) -> list[MonthActivity]:
    """Events per source in each of the last `months` months, oldest first."""
    return _activity(with_months(events, as_of, zone, months), as_of, zone, months)


def monthly_tickets(
    events: pd.DataFrame, as_of: datetime, zone: tzinfo, months: int = CHART_MONTHS
) -> list[MonthTickets]:
    """Tickets opened and solved in each of the last `months` months, oldest first."""
    return _tickets(with_months(events, as_of, zone, months), as_of, zone, months)


def monthly_alerts(
    events: pd.DataFrame, as_of: datetime, zone: tzinfo, months: int = CHART_MONTHS
) -> list[MonthAlerts]:
    """Alerts raised and resolved in each of the last `months` months, oldest first."""
    return _alerts(with_months(events, as_of, zone, months), as_of, zone, months)


def _activity(recent: pd.DataFrame, as_of, zone, months: int) -> list[MonthActivity]:
    counts = recent.groupby(["month", "source"])["count"].sum()
    return [
        MonthActivity(
            _month(index),
            {source: int(counts.get((index, source), 0)) for source in SOURCES},
        )
        for index in _last_months(as_of, zone, months)
    ]


def _tickets(recent: pd.DataFrame, as_of, zone, months: int) -> list[MonthTickets]:
    return [
        MonthTickets(month, opened, resolved)
        for month, opened, resolved in _monthly_flow(recent, TICKET_FLOW, as_of, zone, months)
    ]


def _alerts(recent: pd.DataFrame, as_of, zone, months: int) -> list[MonthAlerts]:
    return [
        MonthAlerts(month, raised, resolved)
        for month, raised, resolved in _monthly_flow(recent, ALERT_FLOW, as_of, zone, months)
    ]


def _monthly_flow(
    recent: pd.DataFrame, kinds: tuple[str, str], as_of, zone, months: int
) -> list[tuple[date, int, int]]:
    """(month, events of the first kind, of the second) for each chart month."""
    counts = recent[recent["kind"].isin(kinds)].groupby(["month", "kind"])["count"].sum()
    return [
        (
            _month(index),
            int(counts.get((index, kinds[0]), 0)),
            int(counts.get((index, kinds[1]), 0)),
        )
        for index in _last_months(as_of, zone, months)
    ]


def _last_months(as_of: datetime, zone: tzinfo, months: int) -> range:
    local = as_of.astimezone(zone)
    last = local.year * 12 + local.month - 1
    return range(last - months + 1, last + 1)


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)
